"""tempguide.lm never answers a bad input silently: non-finite logits, tiny temperatures, float or
out-of-range token ids, and enumerations too large to finish."""
import math

import pytest
import torch

from tempguide.lm import exact, filter_logits, generate, sample_next
from tempguide.models.char_gpt import CharGPT, CharGPTConfig

NAN, INF = float("nan"), float("inf")
TINY = [1e-40, 1e-300, 5e-324]


# ---- non-finite logits ------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [NAN, INF])
@pytest.mark.parametrize("temperature", [0.0, 0.7, 1.0])
def test_nan_and_plus_inf_logits_are_refused(bad, temperature):
    logits = torch.tensor([[0.5, 2.0, -1.0], [1.0, 0.0, 0.3]])
    logits[1, 2] = bad
    with pytest.raises(ValueError, match=r"^logits must be finite or -inf .* row 1, token 2"):
        filter_logits(logits, temperature=temperature)
    with pytest.raises(ValueError, match=r"^logits must be finite or -inf"):
        sample_next(logits, temperature=temperature, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_a_row_with_nothing_left_to_sample_is_refused(temperature):
    logits = torch.tensor([[0.5, -INF, 2.0], [-INF, -INF, -INF]])
    with pytest.raises(ValueError, match=r"^logits: every token of row 1 is -inf"):
        sample_next(logits, temperature=temperature, generator=torch.Generator().manual_seed(0))


def test_minus_inf_is_a_removed_token_and_stays_allowed():
    logits = torch.tensor([[-INF, 1.0, -INF, -INF], [0.0, math.log(3.0), -INF, -INF]])
    out = filter_logits(logits, temperature=0.5)
    assert torch.isfinite(out).tolist() == [[False, True, False, False], [True, True, False, False]]
    assert torch.allclose(out[1].softmax(-1), torch.tensor([0.1, 0.9, 0.0, 0.0]))  # 1:3 squared at β = 2
    draws = sample_next(logits[:1].expand(50, 4), generator=torch.Generator().manual_seed(0))
    assert (draws == 1).all()


# ---- tiny temperatures ------------------------------------------------------------------------------
@pytest.mark.parametrize("temperature", TINY)
def test_tiny_temperature_is_the_argmax_with_ties_broken_as_greedy(temperature):
    """float32 logits with ties (small integers): every tiny T gives the argmax, first among ties, like T = 0."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randint(-3, 4, (200, 7), generator=g).float() * 2.5  # ties in most rows
    assert (logits == logits.amax(-1, keepdim=True)).sum(-1).gt(1).any()  # the test really has ties
    greedy = logits.argmax(-1)
    out = sample_next(logits, temperature=temperature, generator=g)
    assert torch.equal(out, greedy)
    assert torch.equal(torch.isfinite(filter_logits(logits, temperature=temperature)),
                      torch.isfinite(filter_logits(logits, temperature=0)))


@pytest.mark.parametrize("temperature", TINY)
def test_tiny_temperature_on_large_float64_logits_is_the_argmax(temperature):
    """s/T overflows float64 (|s| ~ 1e10 at T = 1e-300): the answer is still the argmax (no ties here)."""
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(100, 9, generator=g, dtype=torch.float64) * 1e10
    out = sample_next(logits, temperature=temperature, generator=g)
    assert torch.equal(out, logits.argmax(-1))


def test_temperature_where_s_over_t_overflows_but_beta_does_not():
    """float32, T = 1e-38 (β = 1e38 < float32 max), logits of size ~10: s/T overflows; still the argmax."""
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(100, 9, generator=g) * 10 - 5  # some rows all negative: s/T → −∞ everywhere before
    out = filter_logits(logits, temperature=1e-38)
    assert torch.equal(out.argmax(-1), logits.argmax(-1))
    assert torch.equal(out.softmax(-1), torch.nn.functional.one_hot(logits.argmax(-1), 9).float())
    assert torch.equal(sample_next(logits, temperature=1e-38, generator=g), logits.argmax(-1))


def test_moderate_temperature_still_divides_exactly():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0]])
    assert torch.equal(filter_logits(logits, temperature=0.25), logits / 0.25)


def test_generate_at_a_tiny_temperature_is_greedy_decoding():
    lm = exact.toy_lm()
    start = torch.zeros(1, dtype=torch.long)
    greedy = generate(lm, start, 6, temperature=0)
    for T in TINY:
        assert torch.equal(generate(lm, start, 6, temperature=T, generator=torch.Generator().manual_seed(0)),
                           greedy)


# ---- token ids ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gpt():
    torch.manual_seed(0)
    return CharGPT(CharGPTConfig(block_size=8, n_layer=1, n_head=2, n_embd=16, dropout=0.0)).eval()


def test_float_and_bool_prompts_are_refused():
    lm = exact.toy_lm()
    with pytest.raises(ValueError, match=r"^prompt must be an integer tensor of token ids, got torch.float32"):
        generate(lm, torch.tensor([0.0, 1.7]), 2)
    with pytest.raises(ValueError, match=r"^prompt must be an integer tensor of token ids, got torch.bool"):
        generate(lm, torch.tensor([True, False]), 2)


@pytest.mark.parametrize("bad", [-1, 4, 99])
def test_out_of_range_prompt_ids_name_the_range(bad):
    lm = exact.toy_lm()  # V = 4; a negative id used to wrap around to the last row of the transition
    prompt = torch.tensor([[0, 1], [0, bad]])
    with pytest.raises(ValueError, match=rf"^prompt must hold token ids in \[0, 4\), got range \[{min(0, bad)}, "
                                         rf"{max(1, bad)}\]"):
        generate(lm, prompt, 3)


def test_out_of_range_ids_for_a_network_and_a_plain_callable(gpt):
    with pytest.raises(ValueError, match=r"^prompt must hold token ids in \[0, 96\), got range \[0, 96\]"):
        generate(gpt, torch.tensor([0, 5, 96]), 2)
    five = lambda ids: torch.zeros(ids.shape[0], 5)  # no vocab_size attribute: V = 5 from its logits
    with pytest.raises(ValueError, match=r"^prompt must hold token ids in \[0, 5\), got range \[1, 7\]"):
        generate(five, torch.tensor([1, 7]), 1)
    assert generate(five, torch.tensor([1, 4]), 1, generator=torch.Generator().manual_seed(0)).shape == (3,)


@pytest.mark.parametrize("context", [0, -2, 2.5, True])
def test_context_must_be_a_positive_int(context):
    with pytest.raises(ValueError, match=r"^context must be None or an int >= 1"):
        generate(exact.toy_lm(), torch.zeros(1, dtype=torch.long), 2, context=context)


def test_valid_prompts_still_generate(gpt):
    out = generate(gpt, torch.tensor([[0, 95]], dtype=torch.int32), 3, generator=torch.Generator().manual_seed(0))
    assert out.dtype == torch.int64 and out.shape == (1, 5) and out[0, :2].tolist() == [0, 95]


# ---- the size guard of exact enumeration ------------------------------------------------------------
def uniform_lm(V, max_len):
    return exact.MarkovLM(tokens=[str(i) for i in range(V)], transition=torch.full((V, V), 1 / V), max_len=max_len)


@pytest.mark.parametrize("V,max_len", [(4, 1), (4, 5), (6, 3), (2, 10)])
def test_count_sequences_is_exact(V, max_len):
    """With every transition allowed, a sequence is L ∈ 0..max_len non-end tokens and the end: Σ_L (V − 1)^L."""
    lm = uniform_lm(V, max_len)
    expected = sum((V - 1) ** L for L in range(max_len + 1))
    assert exact.count_sequences(lm) == expected == len(exact.sequences(lm))
    assert exact.count_sequences(exact.toy_lm()) == 363 == len(exact.sequences(exact.toy_lm()))


def test_a_huge_enumeration_is_refused_before_it_starts(monkeypatch):
    lm = uniform_lm(6, 20)  # Σ_{L ≤ 20} 5^L ≈ 1.19e14 sequences: would never finish
    assert exact.MAX_SEQUENCES == 1_000_000

    def no_walk(*args):
        raise AssertionError("the enumeration started before the size check")
    monkeypatch.setattr(exact.MarkovLM, "next_probs", no_walk)
    for enumerate_all in (exact.sequences, exact.sequence_probs, exact.most_probable_sequence,
                          lambda lm: exact.per_token_distribution(lm, 2.0)):
        with pytest.raises(ValueError, match=r"^lm has 1\.192e\+14 sequences .* MAX_SEQUENCES = 1,000,000"):
            enumerate_all(lm)


def test_the_limit_is_the_module_constant(monkeypatch):
    lm = exact.toy_lm()  # 363 sequences
    monkeypatch.setattr(exact, "MAX_SEQUENCES", 363)
    assert len(exact.sequences(lm)) == 363
    monkeypatch.setattr(exact, "MAX_SEQUENCES", 362)
    with pytest.raises(ValueError, match=r"^lm has 363 sequences .* MAX_SEQUENCES = 362"):
        exact.sequences(lm)
