"""Instant feedback for homework 6, CLIP guidance (book: "CLIP, GLIDE and DALL·E 2").

- ``check_noised_clip_log_prob(fn)``: ``fn(clip, text, z, t)`` = the (B, K) log-softmax
  of exp(s)·C_I(z̄, t)ᵀ C_T(c_k) with z̄ = z/√(1+t), against ``tempguide.clip.guidance.clip_log_prob``.
- ``check_clip_guided_denoiser(fn)``: ``fn(denoiser, log_prob, k, gamma)(z, t)`` =
  D + γ·t·∇_z ln p_t(c_k | z), against ``tempguide.guidance.classifier_guided`` on the
  exact toy mixture (whose ln p_t(c | z) is exact).
"""
from __future__ import annotations

import torch

from ._core import CheckResult, _compare_tensors, _fmt, _run


def _fmt_small(x) -> str:
    """Networks and big tensors by their type and shape, so a report stays a few lines long."""
    if isinstance(x, torch.nn.Module):
        return f"{type(x).__name__}(…)"
    if isinstance(x, torch.Tensor) and x.numel() > 8:
        return f"tensor of shape {tuple(x.shape)}"
    if isinstance(x, list):
        return f"{len(x)} captions"
    return _fmt(x)


def _tiny_clip(seed: int):
    from ..clip import Clip, ClipConfig
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return Clip(ClipConfig(embed_dim=8, channels=(8, 8, 8), time_dim=16, word_dim=16, groups=2)).eval()


def check_noised_clip_log_prob(fn, *, seed: int = 0, n_random: int = 6, verbose: bool = True) -> CheckResult:
    """``fn(clip, text, z, t)`` against the reference on a small random CLIP (t a float or a 0-dim tensor)."""
    from ..clip import all_captions
    from ..clip.guidance import clip_log_prob

    clip, g = _tiny_clip(seed), torch.Generator().manual_seed(seed)
    cases = []
    for n in range(n_random):
        captions = all_captions()[5 * n: 5 * n + 3 + n]
        t = [0.01, 1.0, 50.0][n % 3]
        t = torch.tensor(t) if n % 2 else t
        label = f"{len(captions)} captions, t = {float(t):g} as a {'tensor' if n % 2 else 'float'}"
        with torch.no_grad():
            text = clip.encode_text(captions)
        cases.append((label, {"clip": clip, "text": text, "z": 3 * torch.randn(2 + n, 1, 28, 28, generator=g),
                              "t": t, "_captions": captions}))

    def reference(clip, text, z, t, _captions):
        with torch.no_grad():
            return clip_log_prob(clip, _captions)(z, torch.as_tensor(t))

    def student(clip, text, z, t, _captions):
        with torch.no_grad():
            return fn(clip, text, z, t)

    student.__name__ = getattr(fn, "__name__", "noised_clip_log_prob")
    return _run("noised_clip_log_prob", student, cases, reference,
                lambda a, e, got: _compare_tensors(a, e, got), verbose, fmt=_fmt_small)


def check_clip_guided_denoiser(fn, *, seed: int = 0, n_random: int = 6, verbose: bool = True) -> CheckResult:
    """``fn(denoiser, log_prob, k, gamma)(z, t)`` against ``classifier_guided`` on ``toy.mixture_2d()``."""
    from .. import toy
    from ..guidance import classifier_guided

    mix, g = toy.mixture_2d(), torch.Generator().manual_seed(seed)
    log_prob = lambda z, t: mix.class_posterior(z, t).log()  # noqa: E731  (exact ln p_t(c | z))
    cases = []
    for n in range(n_random):
        B = 8 + n
        k = torch.randint(0, 2, (B,), generator=g)
        gamma, t = [0.0, 1.0, 2.5][n % 3], [0.1, 1.0, 10.0][(n // 3) % 3] * (1 + n)
        z = 2 * torch.randn(B, 2, generator=g, dtype=torch.float64)
        cases.append((f"γ = {gamma:g}, t = {t:g}, mixed classes", {"k": k, "gamma": gamma, "z": z,
                                                                  "t": torch.tensor(t, dtype=torch.float64)}))

    def reference(k, gamma, z, t):
        return classifier_guided(mix.denoise, log_prob, k, gamma)(z, t)

    def student(k, gamma, z, t):
        return fn(mix.denoise, log_prob, k, gamma)(z, t)

    student.__name__ = getattr(fn, "__name__", "clip_guided_denoiser")
    return _run("clip_guided_denoiser", student, cases, reference,
                lambda a, e, got: _compare_tensors(a, e, got), verbose, fmt=_fmt_small)
