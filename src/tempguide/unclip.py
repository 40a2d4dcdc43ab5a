"""DALL·E 2 (unCLIP) at MNIST scale: a prior from the caption to a CLIP image embedding and a decoder
from that embedding to the image (book: "DALL·E 2 (unCLIP)"; Ramesh et al. 2022, §2).

    p(y | c) = ∫ p(y | e, c) p(e | c) de,    e = C_I(y) the CLIP image embedding,

which is exact because e is a deterministic function of y ("a conditional
auto-encoder": e is the encoder, p(e | c) the prior, p(y | e) the decoder).

- **prior**: a linear-Gaussian model of the image embedding given the text embedding,

      e | c ~ N(A · C_T(c) + b, Σ),

  fitted in closed form (least squares for A, b; Σ the residual covariance with
  N − (d + 1) degrees of freedom).  DALL·E 2 uses an autoregressive or a diffusion
  prior; a Gaussian is the smallest prior whose law we can check exactly.  The
  sample is projected back onto the unit sphere, where CLIP embeddings live
  (``normalise=True``).
- **decoder**: an ε-network ε̂(z̄, t, e) conditioned on e (``AttributeUNet`` with
  ``cond_dim = d``), guided by classifier-free guidance on e
  (``clip.guidance.embedding_cfg_eps``).  Unlike DALL·E 2's decoder it does not
  also see the caption.
- **variations**: decode one fixed embedding e = C_I(y) many times.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from .clip.guidance import embedding_cfg_eps
from .diffusion._checks import check_finite
from .train.evaluate import ddpm_samples


@dataclasses.dataclass
class GaussianPriorConfig:
    """Sizes of a ``GaussianPrior``: the embedding dimension d and the ridge λ of the least squares."""

    embed_dim: int = 32
    ridge: float = 1e-4

    def __post_init__(self):
        if not (isinstance(self.embed_dim, int) and self.embed_dim >= 1):
            raise ValueError(f"embed_dim must be an int >= 1, got {self.embed_dim!r}")
        if not self.ridge >= 0:
            raise ValueError(f"ridge must be >= 0, got {self.ridge}")


class GaussianPrior(nn.Module):
    """e | C_T ~ N(A · C_T + b, Σ) with A (d, d), b (d,), Σ = L Lᵀ (module docstring)."""

    def __init__(self, config: GaussianPriorConfig | None = None):
        super().__init__()
        self.config = config = config or GaussianPriorConfig()
        d = config.embed_dim
        # fitted in closed form, never by gradient: parameters only so that checkpoints count and place them
        self.A = nn.Parameter(torch.eye(d), requires_grad=False)
        self.b = nn.Parameter(torch.zeros(d), requires_grad=False)
        self.L = nn.Parameter(torch.eye(d), requires_grad=False)  # Cholesky factor of Σ

    @torch.no_grad()
    def fit(self, text_emb: torch.Tensor, image_emb: torch.Tensor) -> "GaussianPrior":
        """Least squares [A b] = argmin Σ_i ‖e_i − A u_i − b‖² (+ λ‖A‖²), Σ = RᵀR / (N − d − 1); returns self."""
        N, d = image_emb.shape
        if text_emb.shape != (N, d) or d != self.config.embed_dim:
            raise ValueError(f"text_emb and image_emb must both have shape (N, {self.config.embed_dim}), "
                             f"got {tuple(text_emb.shape)} and {tuple(image_emb.shape)}")
        if N <= d + 1:
            raise ValueError(f"need N > d + 1 = {d + 1} pairs to estimate Σ, got N = {N}")
        X = torch.cat([text_emb, torch.ones(N, 1)], 1).double()             # (N, d+1)
        Y = image_emb.double()                                              # (N, d)
        reg = self.config.ridge * torch.eye(d + 1, dtype=torch.float64)
        reg[-1, -1] = 0.0                                                   # no ridge on the bias
        W = torch.linalg.solve(X.T @ X + reg, X.T @ Y)                      # (d+1, d): normal equations
        R = Y - X @ W                                                       # residuals
        sigma = R.T @ R / (N - d - 1)
        self.A.copy_(W[:-1].T.float())
        self.b.copy_(W[-1].float())
        self.L.copy_(torch.linalg.cholesky(sigma).float())
        return self

    def mean(self, text_emb: torch.Tensor) -> torch.Tensor:
        """E[e | C_T] = A · C_T + b, (B, d)."""
        return text_emb @ self.A.T + self.b

    def covariance(self) -> torch.Tensor:
        """Σ = L Lᵀ, (d, d)."""
        return self.L @ self.L.T

    def sample(self, text_emb: torch.Tensor, *, generator: torch.Generator | None = None,
               normalise: bool = True) -> torch.Tensor:
        """e = A · C_T + b + L ε, ε ~ N(0, I); projected onto the unit sphere if ``normalise``."""
        eps = torch.randn(text_emb.shape, generator=generator).to(text_emb.device)
        e = self.mean(text_emb) + eps @ self.L.T
        return nn.functional.normalize(e, dim=-1) if normalise else e

    def log_prob(self, text_emb: torch.Tensor, image_emb: torch.Tensor) -> torch.Tensor:
        """ln N(e; A · C_T + b, Σ), (B,)."""
        return torch.distributions.MultivariateNormal(self.mean(text_emb), scale_tril=self.L).log_prob(image_emb)


@torch.no_grad()
def decode(decoder, e: torch.Tensor, w: float, *, n_steps: int = 50, generator: torch.Generator | None = None,
           progress: bool = False) -> torch.Tensor:
    """Images (B, 1, 28, 28) from embeddings e (B, d): DDPM ancestral sampling of the decoder under CFG weight w."""
    e = check_finite(e, "e")
    return ddpm_samples(embedding_cfg_eps(decoder, w), len(e), labels=e, n_steps=n_steps, generator=generator,
                        progress=progress, device=e.device)


@torch.no_grad()
def sample_unclip(prior: GaussianPrior, decoder, text_emb: torch.Tensor, w: float, *, n_steps: int = 50,
                  generator: torch.Generator | None = None, progress: bool = False) -> torch.Tensor:
    """unCLIP: e ~ p(e | C_T) by the prior, then y ~ p(y | e) by the decoder (module docstring)."""
    text_emb = check_finite(text_emb, "text_emb")
    return decode(decoder, prior.sample(text_emb, generator=generator), w, n_steps=n_steps,
                  generator=generator, progress=progress)


@torch.no_grad()
def variations(clip, decoder, image: torch.Tensor, n: int, w: float, *, n_steps: int = 50,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """n decodings of one image's embedding e = C_I(y): what the embedding keeps and what it leaves free."""
    if image.shape != (1, 1, 28, 28):
        raise ValueError(f"image must have shape (1, 1, 28, 28), got {tuple(image.shape)}")
    e = clip.encode_image(check_finite(image, "image")).expand(n, -1)
    return decode(decoder, e, w, n_steps=n_steps, generator=generator)
