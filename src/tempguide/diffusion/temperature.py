"""Temperature for diffusion samplers: wrappers, a scaled start, and P^β on a grid (book: "Diffusion temperature").

Four different things are called "temperature" for a diffusion model; the book
compares them on the exact mixture:

1. P^β itself, P^β(y) ∝ P(y)^β — computable exactly on a grid for a toy
   (:func:`tempered_probabilities`);
2. the noise of the reverse SDE scaled by √T (``sample_reverse_sde(..., temperature=T)``,
   McAllester's lecture; DDPM's "noise × τ", τ = √T);
3. the deterministic probability-flow ODE started from a scaled prior
   (:func:`sample_prior` with ``temperature=T``);
4. the score scaled by β, i.e. ε̂ ÷ τ with τ = 1/β (:func:`scale_score`, :func:`scale_eps`;
   Dhariwal & Nichol 2021, Appendix G).
"""
from __future__ import annotations

import dataclasses
import math

import torch

from ._checks import check_positive, check_temperature


def scale_score(denoiser, beta: float):
    """The denoiser whose score is β times the original: D_β(z, t) = z + β (D(z, t) − z).

    Implements ∇ ln p_t(z)^β = β ∇ ln p_t(z): the exact score of the tempered *noisy*
    marginal p_t^β, which is not the noisy marginal of P^β (noising and powering do
    not commute).  Equal to dividing ε̂ by τ = 1/β.  Book: "Diffusion temperature".
    """
    beta = check_positive(beta, "beta")

    def denoiser_beta(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return z + beta * (denoiser(z, t) - z)
    return denoiser_beta


def scale_eps(eps_net, tau: float):
    """The ε-network ε̂/τ (Dhariwal & Nichol 2021, Appendix G); its score is (1/τ)·∇ ln p_t.

    Same as :func:`scale_score` with β = 1/τ, for networks.  Book: "Diffusion temperature".
    """
    tau = check_positive(tau, "tau")

    def eps_net_tau(z_bar: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return eps_net(z_bar, t, labels) / tau
    return eps_net_tau


def sample_prior(shape, t_max: float, *, temperature: float = 1.0, generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """A start z ~ N(0, T · t_max · I) for the samplers (p_{t_max} ≈ N(0, t_max I) when t_max ≫ data variance).

    ``temperature`` T ≠ 1 gives the "scaled start" of the deterministic ODE.  Book: "Diffusion temperature".
    """
    T = check_temperature(temperature)
    t_max = check_positive(t_max, "t_max")
    eps = torch.randn(shape, generator=generator, dtype=dtype, device=device)
    return math.sqrt(T * t_max) * eps


def tempered_probabilities(log_p: torch.Tensor, beta: float) -> torch.Tensor:
    """P^β on a uniform grid: softmax(β · ln P) over the grid points (McAllester: softmax_y β s(y)).

    ``log_p`` holds ln P at the grid points (any shape); returns probabilities of
    the same shape summing to one.  β = ∞ puts all mass on the argmax.
    """
    beta = float(beta)
    if not beta > 0:
        raise ValueError(f"beta must be > 0 (β = ∞ allowed), got {beta}")
    flat = log_p.reshape(-1)
    if math.isinf(beta):
        probs = torch.zeros_like(flat)
        probs[flat.argmax()] = 1.0
        return probs.reshape(log_p.shape)
    return torch.softmax(beta * flat, dim=0).reshape(log_p.shape)


@dataclasses.dataclass
class ModeStats:
    """Per-component summary of a set of points: mass, mean and isotropic width of each mode."""

    weights: torch.Tensor  # (K,) fraction of the mass nearest (by posterior) to component k
    means: torch.Tensor  # (K, d)
    stds: torch.Tensor  # (K,) root-mean-square deviation per coordinate


def mode_statistics(mixture, y: torch.Tensor, mass: torch.Tensor | None = None) -> ModeStats:
    """Assign each point to its most probable component (p(k | y) at t = 0) and summarise each mode.

    ``mass`` (n,) weights the points (e.g. :func:`tempered_probabilities` on a grid);
    ``None`` means samples, each of weight 1/n.  Empty modes get NaN mean and width.
    """
    y = y.to(torch.float64)
    mass = torch.full((len(y),), 1.0 / len(y), dtype=torch.float64) if mass is None else mass.reshape(-1).double()
    if len(mass) != len(y):
        raise ValueError(f"mass must have one entry per point ({len(y)}), got {len(mass)}")
    k = mixture.posterior(y, 0.0).argmax(dim=1)
    K, d = mixture.num_components, mixture.dim
    weights, means, stds = torch.zeros(K, dtype=torch.float64), torch.full((K, d), math.nan), torch.full((K,), math.nan)
    means, stds = means.double(), stds.double()
    for j in range(K):
        m = mass * (k == j)
        weights[j] = m.sum()
        if weights[j] > 0:
            means[j] = (m[:, None] * y).sum(0) / weights[j]
            stds[j] = ((m[:, None] * (y - means[j]) ** 2).sum() / (weights[j] * d)).sqrt()
    return ModeStats(weights / mass.sum(), means, stds)


def ode_scaled_start_1d(mixture, temperature: float, n: int = 4001) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact law of the probability-flow ODE started from N(0, T·t_0), in 1-D, as t_0 → ∞.

    In one dimension the ODE's flow map is increasing, so it is the quantile map
    z ↦ F⁻¹(F_{t_0}(z)), and F_{t_0}(z) → Φ(z/√t_0).  A start z = √(T t_0)·ξ therefore lands on

        y = F⁻¹(Φ(√T · ξ)),    ξ ~ N(0, 1):

    the quantiles of P squeezed towards its median.  Returns quadrature points
    y (n, 1) and their probabilities (n,) (ξ on a grid over ±8).  Book: "Diffusion temperature".
    """
    T = check_temperature(temperature)
    if mixture.dim != 1:
        raise ValueError(f"ode_scaled_start_1d needs a 1-D mixture, got dim={mixture.dim}")
    xi = torch.linspace(-8.0, 8.0, n, dtype=torch.float64)
    mass = torch.softmax(-0.5 * xi**2, dim=0)                               # N(0, 1) on the grid
    u = torch.special.ndtr(math.sqrt(T) * xi)                               # Φ(√T ξ)
    mu, s, w = mixture.means[:, 0], mixture.stds, mixture.weights
    lo = torch.full_like(u, (mu - 40 * s).min().item())
    hi = torch.full_like(u, (mu + 40 * s).max().item())
    for _ in range(100):                                                    # bisection for F(y) = u
        mid = (lo + hi) / 2
        below = (w * torch.special.ndtr((mid[:, None] - mu) / s)).sum(1) < u
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    return ((lo + hi) / 2)[:, None], mass


def tempered_mixture_approx(mixture, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """P^β of a mixture whose modes are far apart, in closed form: (weights (K,), stds (K,)).

    Near mode k, P^β ∝ (π_k N(μ_k, s_k²))^β = π_k^β (2π s_k²)^{d(1−β)/2} β^{−d/2} N(μ_k, s_k²/β), so
    the modes keep their means, shrink to s_k/√β and get weights ∝ π_k^β s_k^{d(1−β)}.
    Book: "Diffusion temperature" (exercise).
    """
    beta = check_positive(beta, "beta")
    log_w = beta * mixture.weights.log() + mixture.dim * (1 - beta) * mixture.stds.log()
    return torch.softmax(log_w, dim=0), mixture.stds / math.sqrt(beta)
