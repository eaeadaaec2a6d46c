"""Fixtures: local DNS and NTP simulators."""
