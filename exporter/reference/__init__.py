"""Reference endpoint lists (Microsoft's web service, files, URLs) and drift against the catalogue."""
