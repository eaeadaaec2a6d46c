"""The DNS simulator: the lab's own (exporter/lab/dns.py), so the tests and `intune-exporter lab` share it.

See exporter.lab.dns for the behaviours a test may set (drop, garbage, wrong_id, truncated, servfail, refused,
nxdomain, no_answer, records, default_address).
"""

from __future__ import annotations

from exporter.lab.dns import GARBAGE, TTL, DNSServer, _matches, normalise

__all__ = ["GARBAGE", "TTL", "DNSServer", "_matches", "normalise"]
