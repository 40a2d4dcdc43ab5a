"""Recipes of chapter 6's text-to-image systems (book: "CLIP", "GLIDE", "DALL·E 2 (unCLIP)").
Contract as ``tempguide.train.recipes``; each model is retrained by ``python -m tempguide.train NAME``.

- ``clip``: image and text encoders trained together with the symmetric InfoNCE
  loss (``tempguide.clip.loss``) on (augmented digit, its caption) pairs; the
  caption is measured on the augmented image (``captions``), so it stays true.
- ``clip_noisy``: GLIDE's noised CLIP: a fresh image encoder trained on
  x_t = (y + √t·ε)/√(1+t) at the diffusion training levels against ``clip``'s
  *frozen* text encoder (its own logit scale).
- ``mnist_text_cond``: the text-conditional ε-model of GLIDE's classifier-free
  branch: an ``AttributeUNet`` conditioned on the frozen CLIP text embedding
  C_T(caption), dropped to the null query with p = ``P_UNCOND``.
- ``unclip_decoder``: DALL·E 2's decoder: the same network conditioned on the
  CLIP image embedding C_I(y) of the training image, dropped with p = ``P_UNCOND``.
- ``unclip_prior``: DALL·E 2's prior as a linear-Gaussian model
  C_I | C_T ~ N(A·C_T + b, Σ), fitted in closed form (``tempguide.unclip``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import config, pretrained
from ..clip import Clip, ClipConfig, all_captions, caption_index, info_nce, tokenize
from ..clip.zero_shot import zero_shot_report
from ..data import load_mnist
from ..models.attribute_unet import AttributeUNet, AttributeUNetConfig
from ..unclip import GaussianPriorConfig
from .loop import random_batches, train
from .recipes import MNIST_DATA, P_UNCOND, Trained, _build, _trained, augment, noisy, sample_noise_levels

#: where the frozen ``clip`` is read from by the later recipes (None: the package's checkpoints)
CHECKPOINTS = None

CLIP_CONFIG = ClipConfig()
CLIP_STEPS = 800
NOISY_CLIP_CONFIG = ClipConfig(noise_aware=True)
NOISY_CLIP_STEPS = 800
UNET_STEPS = 2500  # as mnist_cond (same UNet family); ~35 min of one loaded core (book: "GLIDE")
TEXT_COND_CONFIG = AttributeUNetConfig(null_flag=True, cond_dim=CLIP_CONFIG.embed_dim, attribute="clip_text")
DECODER_CONFIG = AttributeUNetConfig(null_flag=True, cond_dim=CLIP_CONFIG.embed_dim, attribute="clip_image")
PRIOR_CONFIG = GaussianPriorConfig(embed_dim=CLIP_CONFIG.embed_dim)


def _test_report(model, t_levels=(None,)) -> dict[str, float]:
    images, labels = load_mnist("test", source="subset", verbose=False)
    ids = caption_index(labels, images)
    out = {}
    for t in t_levels:
        rep = zero_shot_report(model.cpu(), images, ids) if t is None else zero_shot_report(model.cpu(), images, ids, t)
        out.update({(f"test_{k}" if t is None else f"test_{k}_t{t:g}"): v for k, v in rep.items()})
    return out


def _contrastive(model, *, noise_aware: bool, steps, seed, device, progress, lr=2e-3, batch_size=128):
    images, labels = load_mnist("train", source="subset", verbose=False)
    tokens = tokenize(all_captions()).to(device)  # (120, L)

    def loss(m, batch, g):
        y = augment(batch[0], g)
        k = caption_index(batch[1], y).to(device)  # the caption of the augmented image
        t = sample_noise_levels(len(y), g) if noise_aware else torch.full((len(y),), 1e-4, device=device)
        x = noisy(y, t, g)[0] if noise_aware else y
        return info_nce(m(x, tokens[k], t), k)

    return train(model, loss, random_batches(images, labels, batch_size=batch_size, device=device),
                 steps=steps, lr=lr, seed=seed, device=device, progress=progress, ema_decay=0.99, warmup=50)


def clip(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """Both towers with InfoNCE (module docstring); metrics = zero-shot report on the 1,000 test digits."""
    steps, batch_size, lr = steps or CLIP_STEPS, 128, 2e-3
    device = device or config.device()
    model = _build(Clip, CLIP_CONFIG, seed)
    ema, result = _contrastive(model, noise_aware=False, steps=steps, seed=seed, device=device,
                               progress=progress, lr=lr, batch_size=batch_size)
    data = MNIST_DATA + "; augmented (±2 px, ±10°, ×(1±0.1)), captions measured on the augmented image"
    return _trained(ema, CLIP_CONFIG, data, result, _test_report(ema), batch_size, lr)


def load_frozen(name: str = "clip", device=None) -> torch.nn.Module:
    """A shipped model for the later recipes, frozen (from ``CHECKPOINTS`` when set)."""
    model = pretrained.load(name, device=device, directory=CHECKPOINTS)
    return model.requires_grad_(False)


def clip_noisy(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """A fresh noise-aware image encoder against ``clip``'s frozen text encoder (module docstring)."""
    steps, batch_size, lr = steps or NOISY_CLIP_STEPS, 128, 2e-3
    device = device or config.device()
    model = _build(Clip, NOISY_CLIP_CONFIG, seed + 1)
    model.text.load_state_dict(load_frozen("clip", "cpu").text.state_dict())
    model.text.requires_grad_(False)
    ema, result = _contrastive(model, noise_aware=True, steps=steps, seed=seed, device=device,
                               progress=progress, lr=lr, batch_size=batch_size)
    data = MNIST_DATA + "; augmented as clip; noised at the diffusion training levels; text encoder of clip, frozen"
    return _trained(ema, NOISY_CLIP_CONFIG, data, result, _test_report(ema, (None, 0.1, 1.0, 10.0)), batch_size, lr)


def _embedding_model(model_config, condition: str, *, steps, seed, device, progress) -> Trained:
    steps, batch_size, lr = steps or UNET_STEPS, 64, 2e-3
    device = device or config.device()
    images, labels = load_mnist("train", source="subset", verbose=False)
    frozen = load_frozen("clip", "cpu")
    with torch.no_grad():
        if condition == "text":
            E_all = frozen.encode_text(tokenize(all_captions()))[caption_index(labels, images)]  # C_T(caption)
        else:
            E_all = torch.cat([frozen.encode_image(y) for y in images.split(500)])                 # C_I(y)
    model = _build(AttributeUNet, model_config, seed)

    def loss(m, batch, g):
        y, E = batch
        t = sample_noise_levels(len(y), g)
        x, eps = noisy(y, t, g)
        drop = torch.rand(len(y), generator=g, device=y.device) < P_UNCOND
        return F.mse_loss(m(x, t, torch.where(drop[:, None], float("nan"), E)), eps)  # NaN row: the null query

    ema, result = train(model, loss, random_batches(images, E_all, batch_size=batch_size, device=device),
                        steps=steps, lr=lr, seed=seed, device=device, progress=progress)
    what = "C_T(caption) of the frozen clip" if condition == "text" else "C_I(image) of the frozen clip"
    data = MNIST_DATA + f"; condition E = {what} (32-d); dropped with p={P_UNCOND} to the learnt null embedding"
    return _trained(ema, model_config, data, result, {}, batch_size, lr)


def mnist_text_cond(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """ε̂(z̄, t, C_T(caption)): GLIDE's text-conditional model at MNIST scale (module docstring)."""
    return _embedding_model(TEXT_COND_CONFIG, "text", steps=steps, seed=seed, device=device, progress=progress)


def unclip_decoder(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """ε̂(z̄, t, C_I(y)): DALL·E 2's decoder at MNIST scale (module docstring)."""
    return _embedding_model(DECODER_CONFIG, "image", steps=steps, seed=seed, device=device, progress=progress)


def unclip_prior(*, steps=None, seed=0, device=None, progress=True) -> Trained:
    """The linear-Gaussian prior e | C_T fitted in closed form on the training pairs (``steps`` is ignored).

    Metrics on the 1,000 test digits: the mean cosine between E[e | C_T] (normalised)
    and the true C_I(y), and the fraction of prior samples e whose top CLIP caption is
    the caption they were drawn for, beside the same fraction for the real C_I(y).
    """
    import time

    from ..unclip import GaussianPrior
    from .loop import TrainResult

    start = time.perf_counter()
    frozen = load_frozen("clip", "cpu")
    text_all = frozen.encode_text(tokenize(all_captions()))                    # (120, d)

    def pairs(split):
        images, labels = load_mnist(split, source="subset", verbose=False)
        k = caption_index(labels, images)
        return k, text_all[k], torch.cat([frozen.encode_image(y) for y in images.split(500)])

    with torch.no_grad():
        _, u, e = pairs("train")
        prior = GaussianPrior(PRIOR_CONFIG).fit(u, e)
        k, u_test, e_test = pairs("test")
        g = torch.Generator().manual_seed(seed)
        e_prior = prior.sample(u_test, generator=g)
        top = lambda emb: (emb @ text_all.T).argmax(-1)  # noqa: E731  (CLIP's caption of an embedding)
        metrics = {
            "test_mean_cosine": F.cosine_similarity(F.normalize(prior.mean(u_test), dim=-1), e_test).mean().item(),
            "test_log_prob": prior.log_prob(u_test, e_test).mean().item(),
            "prior_sample_caption_top1": (top(e_prior) == k).float().mean().item(),
            "real_embedding_caption_top1": (top(e_test) == k).float().mean().item(),
        }
    result = TrainResult(steps=0, seconds=time.perf_counter() - start, losses=[-prior.log_prob(u, e).mean().item()])
    data = MNIST_DATA + "; pairs (C_T(caption), C_I(image)) of the frozen clip; closed-form least squares"
    return _trained(prior, PRIOR_CONFIG, data, result, metrics, None, None)


RECIPES = {
    "unclip_prior": unclip_prior,
    "clip": clip,
    "clip_noisy": clip_noisy,
    "mnist_text_cond": mnist_text_cond,
    "unclip_decoder": unclip_decoder,
}
CONFIGS = {
    "unclip_prior": PRIOR_CONFIG,
    "clip": CLIP_CONFIG,
    "clip_noisy": NOISY_CLIP_CONFIG,
    "mnist_text_cond": TEXT_COND_CONFIG,
    "unclip_decoder": DECODER_CONFIG,
}
