"""Text metrics on strings whose answers can be counted by hand, and perplexity against a direct loop."""
import math

import pytest
import torch

from tempguide.metrics.text import (
    bits_per_character,
    distinct_n,
    is_repetitive,
    repeats_at_end,
    repetition_rate,
    self_perplexity,
    token_log_probs,
)
from tempguide.models.char_gpt import CharGPT, CharGPTConfig


def test_repeats_at_end_by_hand():
    toks = "x a b a b a b".split()
    assert repeats_at_end(toks, 2) == 3
    assert repeats_at_end(toks, 1) == 1
    assert repeats_at_end(toks, 3) == 1
    assert repeats_at_end(toks, 8) == 0


def test_holtzman_definition():
    assert is_repetitive("it is what it is what it is what it is ")  # period 3 ("is what it"), 3 times
    assert is_repetitive("the cat sat the cat sat the cat sat the c")  # the cut last word is dropped
    assert not is_repetitive("the cat sat the cat sat ")  # only twice
    assert not is_repetitive("a a a a a ")  # 2-word phrase "a a" only twice (5 words)
    assert is_repetitive("a a a a a a ")  # ... and three times with 6
    assert not is_repetitive("the cat sat the cat sat the cat sat and left ")  # repetition not at the end
    assert not is_repetitive("")
    assert is_repetitive("one two one two", min_phrase=2, min_repeats=2) is False  # "two" may be cut
    assert is_repetitive("one two one two ", min_phrase=2, min_repeats=2)


def test_repetition_rate_orders_texts():
    rambling = ["def f(x): return x + 1 while the loop ends in a value ", "class A: pass and B is not "]
    looping = ["the value of the value of the value of the value of ", "class A: pass and B is not "]
    assert repetition_rate(rambling) == 0.0
    assert repetition_rate(looping) == 0.5
    with pytest.raises(ValueError):
        repetition_rate([])


def test_distinct_n_by_hand():
    texts = ["a b a b", "a b c"]
    # bigrams: (a b) (b a) (a b) | (a b) (b c): 5 total, 3 distinct
    assert distinct_n(texts, 2) == pytest.approx(3 / 5)
    # unigrams: a b a b a b c: 7 total, 3 distinct
    assert distinct_n(texts, 1) == pytest.approx(3 / 7)
    assert distinct_n(["a"], 2) == 0.0
    repetitive = ["to be to be to be to be"]
    varied = ["to be or not to be that is"]
    assert distinct_n(repetitive, 2) < distinct_n(varied, 2)


@pytest.fixture(scope="module")
def gpt():
    torch.manual_seed(0)
    return CharGPT(CharGPTConfig(block_size=8, n_layer=1, n_head=2, n_embd=16, dropout=0.0)).eval()


def direct_log_probs(model, ids, context):
    """log P(ids[:, i] | the last ``context`` tokens before i), one forward per position."""
    with torch.no_grad():
        return torch.stack([
            torch.log_softmax(model(ids[:, max(0, i - context):i]), -1)[:, -1].gather(-1, ids[:, i:i + 1])[:, 0]
            for i in range(1, ids.shape[1])], dim=1)


@pytest.mark.parametrize("T", [2, 8, 9, 10, 30])
def test_token_log_probs_equal_the_sampler_context(gpt, T):
    ids = torch.randint(96, (3, T), generator=torch.Generator().manual_seed(T))
    assert torch.allclose(token_log_probs(gpt, ids), direct_log_probs(gpt, ids, 8), atol=1e-5)


def test_self_perplexity_and_bpc(gpt):
    ids = torch.randint(96, (2, 30), generator=torch.Generator().manual_seed(5))
    ref = direct_log_probs(gpt, ids, 8)
    assert self_perplexity(gpt, ids, prompt_length=10) == pytest.approx(math.exp(-ref[:, 9:].mean().item()), rel=1e-5)
    # non-overlapping windows of 8 + 1: each character has i mod 8 characters of context
    one = ids[0]
    lp = torch.cat([direct_log_probs(gpt, one[None, s:s + 9], 8)[0] for s in range(0, 29, 8)])
    assert bits_per_character(gpt, one) == pytest.approx(-lp.mean().item() / math.log(2), rel=1e-5)
    with pytest.raises(ValueError, match="prompt_length"):
        self_perplexity(gpt, ids, prompt_length=30)


def test_a_uniform_model_has_perplexity_v():
    class Uniform(torch.nn.Module):
        def forward(self, ids):
            return torch.zeros(*ids.shape, 96)

    ids = torch.randint(96, (2, 20))
    assert self_perplexity(Uniform(), ids, prompt_length=3) == pytest.approx(96.0, rel=1e-5)
    assert bits_per_character(Uniform(), ids[0]) == pytest.approx(math.log2(96), rel=1e-6)
