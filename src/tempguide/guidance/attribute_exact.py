"""The zero-null flaw in closed form: an image y and its attribute E jointly Gaussian
(book: "Guidance on a continuous condition", the exact toy; seed 001).

Take y ~ N(0, s²) (one coordinate) and a standardised attribute E ~ N(0, 1) with
correlation ρ.  Then

    p(y | E) = N(ρ s E, s² (1 − ρ²)),        p(y) = N(0, s²).

A network trained with the condition dropped to a null query learns p(y) there.
Seed 001 queries the unconditional model "by replacing the conditioning
information, the energy, with fixed constant values, such as zero".  But E = 0 is
a real value (the mean attribute), and a network continuous in E answers E = 0
with p(y | E = 0) = N(0, s²(1 − ρ²)), narrower than p(y) by the factor 1 − ρ².
The two ways of answering ∅ give two Gaussian pairs (``guidance.gaussian_pair``):

    null flag:  p(y | ∅) = p(y)          CFG target p(y|E)^w p(y)^{1−w}: mean and precision move
    zero null:  p(y | ∅) = p(y | E = 0)  CFG target p(y|E)^w p(y|0)^{1−w} = N(w ρ s E, s²(1 − ρ²)):
                                         the mean is pushed w times as far, the spread never changes,
                                         and at E = 0 guidance does nothing.

``gaussian_pair.target`` gives the intended targets, ``gaussian_pair.cfg_law`` the
exact laws the guided DDPM-like (SDE) and DDIM-like (ODE) samplers produce.
"""
from __future__ import annotations

import dataclasses
import math

from .gaussian_pair import GaussianPair

NULLS = ("flag", "zero")


@dataclasses.dataclass(frozen=True)
class JointGaussian:
    """y ~ N(0, s²) and its standardised attribute E ~ N(0, 1) with correlation ρ (module docstring)."""

    s: float = 1.0
    rho: float = 0.8

    def __post_init__(self):
        if not (math.isfinite(self.s) and self.s > 0):
            raise ValueError(f"s must be a finite standard deviation > 0, got {self.s}")
        if not -1 < self.rho < 1:
            raise ValueError(f"rho must be a correlation in (-1, 1), got {self.rho}")

    @property
    def s_cond(self) -> float:
        """s √(1 − ρ²): the standard deviation of y given E, whatever E."""
        return self.s * math.sqrt(1 - self.rho**2)

    def conditional(self, E: float) -> tuple[float, float]:
        """(mean, std) of p(y | E) = N(ρ s E, s²(1 − ρ²))."""
        if not math.isfinite(E):
            raise ValueError(f"E must be a finite attribute value, got {E}")
        return self.rho * self.s * E, self.s_cond

    def null(self, null: str) -> tuple[float, float]:
        """(mean, std) the unconditional query returns: p(y) with a null flag, p(y | E = 0) with the zero null."""
        if null not in NULLS:
            raise ValueError(f"null must be one of {NULLS}, got {null!r}")
        return (0.0, self.s) if null == "flag" else self.conditional(0.0)

    def pair(self, E: float, null: str) -> GaussianPair:
        """The Gaussian pair (p(y | E), p(y | ∅)) that CFG towards E combines, for either null."""
        mu_c, s_c = self.conditional(E)
        mu_u, s_u = self.null(null)
        return GaussianPair(mu_c, s_c, mu_u, s_u)

    def attribute_of(self, y):
        """Ê(y) = y / (ρ s): unbiased for E under p(y | E), i.e. E[Ê | E] = E (works on floats and tensors)."""
        return y / (self.rho * self.s)
