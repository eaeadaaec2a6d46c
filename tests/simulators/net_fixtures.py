"""Fixtures: local TCP, TLS and HTTP simulators with trustme certificates."""
