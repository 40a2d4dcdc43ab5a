"""filter_logits against Hugging Face transformers' logits warpers (the reference implementation)."""
import math

import pytest
import torch
from transformers.generation.logits_process import (
    MinPLogitsWarper,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from tempguide.lm import filter_logits

INF = float("inf")


def reference(logits, temperature=1.0, top_k=None, top_p=None, min_p=None):
    """transformers' warpers in generate()'s order, min_tokens_to_keep=1, on (B, V)."""
    x = TemperatureLogitsWarper(float(temperature))(None, logits)
    if top_k is not None:
        x = TopKLogitsWarper(top_k)(None, x)
    if top_p is not None:
        x = TopPLogitsWarper(top_p)(None, x)
    if min_p is not None:
        x = MinPLogitsWarper(min_p)(None, x)
    return x


SETTINGS = [
    dict(temperature=1.0),
    dict(temperature=0.5),
    dict(temperature=2.0, top_k=1),
    dict(temperature=0.7, top_k=5),
    dict(top_k=40),
    dict(top_k=1000),  # more than V: no effect
    dict(top_p=0.9),
    dict(temperature=1.5, top_p=0.3),
    dict(top_p=1e-6),
    dict(top_p=1.0),
    dict(min_p=0.05),
    dict(min_p=0.0),
    dict(min_p=1.0),
    dict(temperature=0.8, top_k=20, top_p=0.9, min_p=0.1),
]


@pytest.mark.parametrize("kwargs", SETTINGS, ids=[str(s) for s in SETTINGS])
@pytest.mark.seed("000-11", "000-12")
def test_matches_transformers_on_random_logits(kwargs):
    g = torch.Generator().manual_seed(0)
    for scale in (0.3, 3.0, 30.0):
        logits = scale * torch.randn(16, 64, generator=g)
        assert torch.equal(filter_logits(logits, **kwargs), reference(logits, **kwargs))


@pytest.mark.seed("000-12")
def test_ties_at_the_top_k_boundary_are_all_kept():
    logits = torch.tensor([[3.0, 1.0, 2.0, 2.0, 2.0, 0.0]])
    out = filter_logits(logits, top_k=2)
    assert torch.equal(out, reference(logits, top_k=2))
    assert torch.isfinite(out).tolist() == [[True, False, True, True, True, False]]  # 3 ties with the 2nd


@pytest.mark.seed("000-11")
def test_ties_in_top_p_match_transformers():
    logits = torch.log(torch.tensor([[0.25, 0.25, 0.25, 0.25], [0.4, 0.2, 0.2, 0.2]]))
    for p in (0.1, 0.3, 0.5, 0.6, 0.75, 0.9):
        assert torch.equal(filter_logits(logits, top_p=p), reference(logits, top_p=p))


@pytest.mark.seed("000-11")
def test_top_p_keeps_the_smallest_nucleus():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    logits = probs.log()
    kept = lambda p: torch.isfinite(filter_logits(logits, top_p=p)).sum().item()
    assert kept(0.5) == 1 and kept(0.51) == 2 and kept(0.79) == 2 and kept(0.81) == 3 and kept(0.96) == 4


def test_tiny_top_p_and_min_p_one_leave_only_the_argmax():
    logits = torch.randn(5, 30, generator=torch.Generator().manual_seed(1))
    for kw in (dict(top_p=1e-9), dict(min_p=1.0), dict(top_k=1)):
        out = filter_logits(logits, **kw)
        assert (torch.isfinite(out).sum(-1) == 1).all()
        assert torch.equal(out.argmax(-1), logits.argmax(-1))


def test_off_switches_change_nothing():
    logits = torch.randn(3, 50, generator=torch.Generator().manual_seed(2))
    for kw in (dict(), dict(top_p=1.0), dict(min_p=0.0), dict(top_k=50), dict(top_k=500)):
        assert torch.equal(filter_logits(logits, **kw), logits)


@pytest.mark.seed("000-12")
def test_min_p_threshold_is_relative_to_the_top_probability():
    probs = torch.tensor([0.5, 0.26, 0.12, 0.08, 0.04])
    out = filter_logits(probs.log(), min_p=0.2)  # keep p >= 0.2 · 0.5 = 0.1
    assert torch.isfinite(out).tolist() == [True, True, True, False, False]


def test_minus_inf_inputs():
    logits = torch.tensor([[-INF, 2.0, -INF, 1.0, 0.5], [-INF, -INF, 4.0, -INF, -INF]])
    for kw in SETTINGS:
        out = filter_logits(logits, **kw)
        assert torch.equal(out, reference(logits, **kw))
        assert torch.isinf(out[logits == -INF]).all()  # removed tokens stay removed
        assert torch.isfinite(out).any(-1).all()  # one token always survives
    assert torch.equal(filter_logits(logits, temperature=0), torch.where(
        torch.arange(5) == logits.argmax(-1, keepdim=True), logits, torch.tensor(-INF)))


def test_any_leading_batch_dims():
    logits = torch.randn(2, 3, 4, 20, generator=torch.Generator().manual_seed(3))
    kw = dict(temperature=0.9, top_k=7, top_p=0.8, min_p=0.02)
    out = filter_logits(logits, **kw)
    assert out.shape == logits.shape
    assert torch.equal(out.reshape(-1, 20), reference(logits.reshape(-1, 20), **kw))
    assert torch.equal(filter_logits(logits[0, 0, 0], **kw), out[0, 0, 0])  # 1-D works too


@pytest.mark.seed("000-04")
def test_temperature_zero_is_greedy():
    logits = torch.randn(8, 33, generator=torch.Generator().manual_seed(4))
    out = filter_logits(logits, temperature=0)
    assert (torch.isfinite(out).sum(-1) == 1).all()
    assert torch.equal(out.argmax(-1), logits.argmax(-1))
    assert torch.equal(out.softmax(-1), torch.nn.functional.one_hot(logits.argmax(-1), 33).float())
    tied = torch.tensor([1.0, 5.0, 5.0, 0.0])  # ties: the first argmax, like torch.argmax
    assert torch.isfinite(filter_logits(tied, temperature=0)).tolist() == [False, True, False, False]
    # combining with truncation changes nothing
    assert torch.equal(filter_logits(logits, temperature=0, top_k=3, top_p=0.5, min_p=0.5), out)


@pytest.mark.seed("000-03")
def test_temperature_is_beta_times_logits():
    logits = torch.randn(4, 10, generator=torch.Generator().manual_seed(5))
    beta = 4.0
    p = filter_logits(logits, temperature=1 / beta).softmax(-1)
    q = logits.softmax(-1) ** beta
    assert torch.allclose(p, q / q.sum(-1, keepdim=True), atol=1e-6)


@pytest.mark.parametrize("kwargs, name", [
    (dict(temperature=-0.1), "temperature"), (dict(temperature=math.inf), "temperature"),
    (dict(temperature=math.nan), "temperature"),
    (dict(top_k=0), "top_k"), (dict(top_k=2.5), "top_k"), (dict(top_k=True), "top_k"),
    (dict(top_p=0.0), "top_p"), (dict(top_p=1.01), "top_p"), (dict(top_p=-0.5), "top_p"),
    (dict(min_p=-0.01), "min_p"), (dict(min_p=1.5), "min_p"),
])
def test_bad_arguments_raise_value_error_naming_them(kwargs, name):
    with pytest.raises(ValueError, match=name):
        filter_logits(torch.zeros(2, 5), **kwargs)
