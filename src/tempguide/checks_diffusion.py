"""The old home of the homework-2 checks: now :mod:`tempguide.checks.diffusion` (kept so that
``from tempguide import checks_diffusion`` and ``checks_diffusion.check_*`` keep working)."""
from .checks.diffusion import (CheckResult, _compare_tensors, _denoisers, _finish, _Named, _run,  # noqa: F401
                               _short, check_final_variance, check_sample_tempered, check_temperature_step,
                               geometric_ts, linear_reverse_moments, sample_reverse_sde, toy)
from .checks.diffusion import __all__  # noqa: F401
