"""Homework 6's instant feedback: the textbook answers pass, realistic mistakes fail, a stub says so."""
import torch

from tempguide.checks import check_clip_guided_denoiser, check_noised_clip_log_prob
from tempguide.guidance import classifier_guided


def log_prob(clip, text, z, t, *, scale_input=True, normalise=True):
    t = torch.as_tensor(t, dtype=z.dtype)
    x = z / (1 + t).sqrt() if scale_input else z
    logits = clip.scale() * clip.encode_image(x, t) @ text.T
    return logits.log_softmax(-1) if normalise else logits


def guided(denoiser, lp, k, gamma, *, scale=lambda t: t, own_caption=True):
    def D(z, t):
        with torch.enable_grad():
            z_ = z.detach().requires_grad_(True)
            chosen = lp(z_, t).gather(1, k[:, None]) if own_caption else lp(z_, t)[:, :1]
            (g,) = torch.autograd.grad(chosen.sum(), z_)
        return denoiser(z, t) + gamma * scale(torch.as_tensor(t, dtype=z.dtype)) * g
    return D


def stub(*args):
    raise NotImplementedError


def test_noised_clip_log_prob_check():
    assert check_noised_clip_log_prob(log_prob, verbose=False)
    assert not check_noised_clip_log_prob(lambda *a: log_prob(*a, scale_input=False), verbose=False)  # x = z
    assert not check_noised_clip_log_prob(lambda *a: log_prob(*a, normalise=False), verbose=False)  # similarity
    result = check_noised_clip_log_prob(stub, verbose=False)
    assert not result and "not implemented yet" in result.report


def test_clip_guided_denoiser_check():
    assert check_clip_guided_denoiser(lambda d, lp, k, g: classifier_guided(d, lp, k, g), verbose=False)
    assert check_clip_guided_denoiser(guided, verbose=False)
    assert not check_clip_guided_denoiser(lambda *a: guided(*a, scale=lambda t: t.sqrt()), verbose=False)  # √t
    assert not check_clip_guided_denoiser(lambda *a: guided(*a, own_caption=False), verbose=False)  # caption 0
    result = check_clip_guided_denoiser(stub, verbose=False)
    assert not result and "not implemented yet" in result.report
