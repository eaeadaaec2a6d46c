"""The fault servers: the lab's own (exporter/lab/faults.py), shared with bench/soak.py.

See exporter.lab.faults for what each `Fault` does after accepting a connection.
"""

from __future__ import annotations

from exporter.lab.faults import FAULT_DOMAIN, Fault, FaultLab, running_faults

__all__ = ["FAULT_DOMAIN", "Fault", "FaultLab", "running_faults"]
