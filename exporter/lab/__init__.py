"""A simulated Intune network on loopback (`intune-exporter lab`): DNS, TLS/HTTP and NTP responders, and the
fault servers (`faults`, `fault_config`) that misbehave on purpose.

The test suite reuses the same simulators (tests/support/simulators re-exports them), and the benchmarks in
bench/ run on them: they depend on the installed package alone, never on the tests.
"""
