"""Exact toy distributions: Gaussian mixtures with closed-form noisy densities (book: "The exact mixture").

A mixture p(y) = Σ_k π_k N(y; μ_k, s_k² I) stays a mixture when noise is added,
z = y + √t·ε:

    p_t(z)       = Σ_k π_k N(z; μ_k, (s_k² + t) I)                        (1)
    r_k(z, t)    = π_k N(z; μ_k, (s_k² + t) I) / p_t(z)    p(component k | z)
    E[y | z]     = Σ_k r_k (μ_k + s_k² / (s_k² + t) · (z − μ_k))            (2)
    ∇ ln p_t(z)  = Σ_k r_k (μ_k − z) / (s_k² + t) = (E[y | z] − z) / t      (3)

(3) is Tweedie's formula, the identity every diffusion sampler in the course
rests on.  Components may carry class labels; conditioning on a class keeps its
components, and p(class | z) sums the responsibilities r_k of that class.
"""
from __future__ import annotations

import math

import torch


class GaussianMixture:
    """Σ_k π_k N(μ_k, s_k² I) in d dimensions, with exact noisy scores and denoisers.

    Args:
        weights: (K,) mixture weights π_k, finite and positive; normalised to sum to one.
        means: (K, d) component means μ_k, finite.
        stds: (K,) isotropic standard deviations s_k, finite and > 0.
        labels: optional (K,) integer class of each component (an integer tensor or list, >= 0).

    Parameters are stored in float64; every method computes in the dtype of its
    input ``z`` (use float64 inputs for exact comparisons); integer points are
    promoted to float64.  ``t`` is a finite float >= 0, a 0-dim tensor, or a tensor
    of shape (n,) giving one noise level per point.
    """

    def __init__(self, weights, means, stds, labels=None):
        weights = torch.as_tensor(weights, dtype=torch.float64)
        means = torch.as_tensor(means, dtype=torch.float64)
        stds = torch.as_tensor(stds, dtype=torch.float64)
        if weights.ndim != 1 or len(weights) == 0:
            raise ValueError(f"weights must have shape (K,) with K >= 1, got {tuple(weights.shape)}")
        if not bool(torch.isfinite(weights).all()) or not bool((weights > 0).all()):
            raise ValueError(f"weights must all be finite and > 0, got {weights.tolist()}")
        if means.ndim == 1:
            means = means[:, None]
        if means.ndim != 2 or means.shape[0] != len(weights):
            raise ValueError(f"means must have shape (K, d) = ({len(weights)}, d), got {tuple(means.shape)}")
        if not bool(torch.isfinite(means).all()):
            raise ValueError(f"means must be finite, got {means.tolist()}")
        if stds.shape != weights.shape:
            raise ValueError(f"stds must have shape (K,) = ({len(weights)},), got {tuple(stds.shape)}")
        if not bool(torch.isfinite(stds).all()) or not bool((stds > 0).all()):
            raise ValueError(f"stds must all be finite and > 0, got {stds.tolist()}")
        self.weights = weights / weights.sum()
        self.means = means
        self.stds = stds
        self.labels = None
        if labels is not None:
            self.labels = _check_indices(labels, "labels", len(weights))

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def num_components(self) -> int:
        return len(self.weights)

    @property
    def num_classes(self) -> int:
        if self.labels is None:
            raise ValueError("this mixture has no labels")
        return int(self.labels.max()) + 1

    def __repr__(self) -> str:
        return (f"GaussianMixture(weights={self.weights.tolist()}, means={self.means.tolist()}, "
                f"stds={self.stds.tolist()}, labels={None if self.labels is None else self.labels.tolist()})")

    # -- helpers ---------------------------------------------------------------------------
    def _check(self, z) -> torch.Tensor:
        """Points z (n, d) as a floating tensor: integers are promoted to float64, the parameters' dtype."""
        z = torch.as_tensor(z)
        if z.dtype == torch.bool or z.is_complex():
            raise ValueError(f"points z must be real numbers, got dtype {z.dtype}")
        if not z.is_floating_point():
            z = z.to(torch.float64)
        if z.ndim != 2 or z.shape[1] != self.dim:
            raise ValueError(f"points must have shape (n, {self.dim}), got {tuple(z.shape)}")
        return z

    def _variances(self, t, z: torch.Tensor) -> torch.Tensor:
        """s_k² + t as (n or 1, K) in z's dtype."""
        t = torch.as_tensor(t, dtype=z.dtype, device=z.device)
        if not bool(torch.isfinite(t).all()) or bool((t < 0).any()):
            raise ValueError(f"t (noise variance) must be finite and >= 0, got {t}")
        t = t.reshape(-1, 1) if t.ndim > 0 else t.reshape(1, 1)
        return self.stds.to(z).pow(2)[None, :] + t

    def _log_joint(self, z: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
        """ln π_k + ln N(z; μ_k, var_k I), shape (n, K)."""
        sq = (z[:, None, :] - self.means.to(z)[None]).pow(2).sum(-1)  # (n, K)
        return (self.weights.to(z).log()[None] - 0.5 * sq / var
                - 0.5 * self.dim * torch.log(2 * math.pi * var))

    # -- densities -------------------------------------------------------------------------
    def log_prob(self, y: torch.Tensor) -> torch.Tensor:
        """ln p(y), shape (n,)."""
        return self.log_prob_t(y, 0.0)

    def log_prob_t(self, z: torch.Tensor, t) -> torch.Tensor:
        """ln p_t(z) of z = y + √t·ε, Eq. (1); shape (n,)."""
        z = self._check(z)
        return torch.logsumexp(self._log_joint(z, self._variances(t, z)), dim=1)

    def posterior(self, z: torch.Tensor, t) -> torch.Tensor:
        """r_k(z, t) = p(component k | z), shape (n, K)."""
        z = self._check(z)
        return torch.softmax(self._log_joint(z, self._variances(t, z)), dim=1)

    # -- the quantities samplers need -----------------------------------------------------
    def denoise(self, z: torch.Tensor, t) -> torch.Tensor:
        """E[y | z] at noise variance t, Eq. (2); shape (n, d)."""
        z = self._check(z)
        var = self._variances(t, z)  # (n, K)
        r = torch.softmax(self._log_joint(z, var), dim=1)
        mu = self.means.to(z)[None]  # (1, K, d)
        shrink = (self.stds.to(z).pow(2)[None, :] / var)[..., None]  # s_k² / (s_k² + t)
        return (r[..., None] * (mu + shrink * (z[:, None, :] - mu))).sum(1)

    def score(self, z: torch.Tensor, t) -> torch.Tensor:
        """∇_z ln p_t(z), Eq. (3); shape (n, d).  Exact also at t = 0."""
        z = self._check(z)
        var = self._variances(t, z)
        r = torch.softmax(self._log_joint(z, var), dim=1)
        return (r[..., None] * (self.means.to(z)[None] - z[:, None, :]) / var[..., None]).sum(1)

    def sample(self, n: int, generator: torch.Generator | None = None,
               return_components: bool = False):
        """n exact samples y ~ p (float64, shape (n, d)); optionally also their components."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.dim, dtype=torch.float64, generator=generator)
        y = self.means[k] + self.stds[k, None] * eps
        return (y, k) if return_components else y

    # -- classes ---------------------------------------------------------------------------
    def restrict(self, components) -> "GaussianMixture":
        """The mixture of the given components only, weights renormalised."""
        idx = _check_indices(components, "components", upper=self.num_components)
        if len(idx) == 0:
            raise ValueError(f"components must name at least one index in [0, {self.num_components}), got none")
        labels = None if self.labels is None else self.labels[idx]
        return GaussianMixture(self.weights[idx], self.means[idx], self.stds[idx], labels)

    def condition(self, c: int) -> "GaussianMixture":
        """p(y | class c): the components labelled c."""
        if self.labels is None:
            raise ValueError("condition() needs a mixture with labels")
        c_ = torch.as_tensor(c)
        if c_.ndim != 0 or c_.is_floating_point() or c_.is_complex() or c_.dtype == torch.bool:
            raise ValueError(f"class c must be one integer, got {c!r}")
        if not 0 <= int(c_) < self.num_classes:
            raise ValueError(f"class c must be in [0, {self.num_classes}), got {c}")
        return self.restrict(torch.nonzero(self.labels == int(c_)).reshape(-1))

    def class_prior(self) -> torch.Tensor:
        """p(c), shape (C,)."""
        if self.labels is None:
            raise ValueError("class_prior() needs a mixture with labels")
        return torch.zeros(self.num_classes, dtype=torch.float64).index_add_(0, self.labels, self.weights)

    def class_posterior(self, z: torch.Tensor, t) -> torch.Tensor:
        """p(class c | z) at noise variance t, shape (n, C): Σ of r_k over the class's components."""
        if self.labels is None:
            raise ValueError("class_posterior() needs a mixture with labels")
        r = self.posterior(z, t)
        out = torch.zeros(len(r), self.num_classes, dtype=r.dtype, device=r.device)
        return out.index_add_(1, self.labels.to(r.device), r)


def _check_indices(values, name: str, length: int | None = None, upper: int | None = None) -> torch.Tensor:
    """``values`` as an int64 tensor of indices >= 0 (and < ``upper``), of shape (``length``,) if given.

    Floats and booleans are refused rather than truncated: 0.7 is not a class.
    """
    values = torch.as_tensor(values)
    if values.is_floating_point() or values.is_complex() or values.dtype == torch.bool:
        raise ValueError(f"{name} must be integers (an integer tensor or list), got dtype {values.dtype}")
    values = values.long().reshape(-1) if length is None else values.long()
    if length is not None and values.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},), got {tuple(values.shape)}")
    allowed = f"[0, {upper})" if upper is not None else ">= 0"
    if bool((values < 0).any()) or (upper is not None and bool((values >= upper).any())):
        raise ValueError(f"{name} must be integers in {allowed}, got {values.tolist()}")
    return values


def mixture_1d() -> GaussianMixture:
    """The course's 1-D toy: two unequal, labelled modes at ±2 (weights 0.7 / 0.3)."""
    return GaussianMixture(weights=[0.7, 0.3], means=[[-2.0], [2.0]], stds=[0.5, 0.5], labels=[0, 1])


def mixture_2d() -> GaussianMixture:
    """The course's 2-D toy: four modes of unequal weight and width in two classes."""
    return GaussianMixture(
        weights=[0.4, 0.1, 0.3, 0.2],
        means=[[-2.0, -1.0], [-1.0, 2.0], [2.0, 1.0], [1.0, -2.0]],
        stds=[0.5, 0.3, 0.4, 0.3],
        labels=[0, 0, 1, 1],
    )
