"""The NTP simulator: the lab's own (exporter/lab/ntp.py), so the tests and `intune-exporter lab` share it.

See exporter.lab.ntp for the behaviours a test may set (offset, stratum, silent, kiss, wrong_originate,
garbage).
"""

from __future__ import annotations

from exporter.lab.ntp import _PACKET, NTP_UNIX_OFFSET, NTPServer, ntp_now

__all__ = ["NTP_UNIX_OFFSET", "_PACKET", "NTPServer", "ntp_now"]
