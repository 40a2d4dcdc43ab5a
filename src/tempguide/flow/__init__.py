"""Flow matching and its guidance (book: "Guidance for flow matching"; MIT 6.S184 notes, seed 004).

Time convention: τ = 0 noise, τ = 1 data (``tempguide.flow.time``).  This package
must not import ``tempguide.models`` at import time (the models import
``flow.time``).
"""
from .time import TAU_MIN, t_from_tau, tau_from_t

__all__ = ["TAU_MIN", "t_from_tau", "tau_from_t"]
