"""A simulated Intune network on loopback (`intune-exporter lab`): DNS, TLS/HTTP and NTP responders.

The test suite reuses the same simulators (tests/simulators re-exports them).
"""
