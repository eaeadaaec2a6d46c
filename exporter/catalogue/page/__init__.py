"""Microsoft's "Network endpoints for Microsoft Intune" page, read in any of its forms (learn.microsoft.com HTML
in any locale, the markdown source, text copied from the rendered page) into a `ParsedPage`."""
