"""Prometheus exporter that probes the network endpoints Microsoft Intune devices need."""

__version__ = "0.1.0"
