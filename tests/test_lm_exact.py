"""The enumerable toy: per-token vs sequence-level temperature, checked by hand-computable answers."""
import itertools
import math

import pytest
import torch

from tempguide.lm import exact


@pytest.fixture(scope="module")
def lm():
    return exact.toy_lm()


def test_sequences_are_all_complete_sentences(lm):
    seqs = exact.sequences(lm)
    # no empty sentence (P(. | start) = 0), then 3 + 9 + 27 + 81 + 243 sentences of length 1..5
    assert len(seqs) == sum(3 ** n for n in range(1, lm.max_len + 1))
    assert all(s[-1] == lm.end and lm.end not in s[:-1] for s in seqs)


def test_probabilities_sum_to_one_and_match_the_chain(lm):
    p = exact.sequence_probs(lm)
    assert p.sum().item() == pytest.approx(1.0, abs=1e-12)
    T = lm.transition
    i = exact.sequences(lm).index((2, 0))  # "b." = P(b | start) P(. | b)
    assert p[i].item() == pytest.approx((T[0, 2] * T[2, 0]).item())
    j = exact.sequences(lm).index((1, 1, 1, 1, 1, 0))  # "aaaaa.": the cap forces the end
    assert p[j].item() == pytest.approx((T[0, 1] * T[1, 1] ** 4).item())


@pytest.mark.parametrize("beta", [0.0, 0.3, 1.0, 2.5, 7.0])
@pytest.mark.seed("000-06", "000-07")
def test_both_tempered_distributions_are_normalised(lm, beta):
    assert exact.per_token_distribution(lm, beta).sum().item() == pytest.approx(1.0, abs=1e-12)
    assert exact.sequence_level_distribution(lm, beta).sum().item() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.seed("000-07")
def test_beta_one_per_token_equals_sequence_level(lm):
    q = exact.per_token_distribution(lm, 1.0)
    r = exact.sequence_level_distribution(lm, 1.0)
    assert torch.allclose(q, r, atol=1e-14)
    assert exact.kl_divergence(q, r) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("beta", [0.5, 2.0, 4.0])
@pytest.mark.seed("000-07")
def test_beta_not_one_they_differ(lm, beta):
    seqs = exact.sequences(lm)
    p = exact.sequence_probs(lm)
    q = exact.per_token_distribution(lm, beta)
    r = exact.sequence_level_distribution(lm, beta)
    # independent enumeration: KL(Q ‖ R) = Σ Q ln Q − Σ Q ln(P^β / Z)
    Z = sum(float(pi) ** beta for pi in p)
    kl = sum(float(qi) * (math.log(float(qi)) - (beta * math.log(float(pi)) - math.log(Z)))
             for qi, pi in zip(q, p))
    assert exact.kl_divergence(q, r) == pytest.approx(kl, rel=1e-10)
    assert kl > 1e-3
    # and Q_β(y) is the product of tempered next-token distributions
    s = seqs[7]
    manual = 1.0
    for i, y in enumerate(s):
        w = lm.next_probs(s[:i]) ** beta
        manual *= float(w[y] / w.sum())
    assert q[7].item() == pytest.approx(manual)


@pytest.mark.seed("000-04", "000-07")
def test_beta_infinity_limits(lm):
    seqs = exact.sequences(lm)
    greedy, best = exact.greedy_sequence(lm), exact.most_probable_sequence(lm)
    q_inf = exact.per_token_distribution(lm, math.inf)
    r_inf = exact.sequence_level_distribution(lm, math.inf)
    assert q_inf[seqs.index(greedy)] == 1.0 and r_inf[seqs.index(best)] == 1.0
    # large finite β approaches the limits
    assert exact.per_token_distribution(lm, 200.0)[seqs.index(greedy)] > 0.99
    assert exact.sequence_level_distribution(lm, 200.0)[seqs.index(best)] > 0.99
    assert exact.entropy(q_inf) == 0.0 and exact.entropy(r_inf) == 0.0


def test_beta_zero_limits(lm):
    # sequence level: uniform over all sentences; per token: uniform at each step, NOT uniform over sentences
    r0 = exact.sequence_level_distribution(lm, 0.0)
    assert torch.allclose(r0, torch.full_like(r0, 1 / len(r0)))
    q0 = exact.per_token_distribution(lm, 0.0)
    seqs = exact.sequences(lm)
    # every step picks uniformly among the tokens the chain allows: "b." has (1/3)·(1/4)
    assert q0[seqs.index((2, 0))].item() == pytest.approx(1 / 12)


@pytest.mark.seed("000-07", "000-09")
def test_greedy_is_not_the_most_probable_sequence(lm):
    greedy, best = exact.greedy_sequence(lm), exact.most_probable_sequence(lm)
    assert lm.decode(greedy) == "aaaaa." and lm.decode(best) == "b."
    p = {s: exact.sequence_prob(lm, s) for s in exact.sequences(lm)}
    assert max(p, key=p.get) == best  # brute force agrees
    assert p[greedy] < p[best]


def test_greedy_sequence_by_hand():
    # a chain where greedy and most probable agree: start -> x (0.9), x -> end (0.9)
    lm = exact.MarkovLM(["<e>", "x", "y"], [[0.0, 0.9, 0.1], [0.9, 0.05, 0.05], [0.5, 0.25, 0.25]], max_len=3)
    assert exact.greedy_sequence(lm) == exact.most_probable_sequence(lm) == (1, 0)


@pytest.mark.seed("000-03")
def test_temper_and_entropy_and_kl_by_hand():
    p = torch.tensor([0.5, 0.25, 0.25, 0.0], dtype=torch.float64)
    assert torch.allclose(exact.temper(p, 2.0), torch.tensor([4 / 6, 1 / 6, 1 / 6, 0.0], dtype=torch.float64))
    assert torch.allclose(exact.temper(p, 0.0), torch.tensor([1 / 3, 1 / 3, 1 / 3, 0.0], dtype=torch.float64))
    assert exact.entropy(p) == pytest.approx(1.5 * math.log(2))
    q = torch.tensor([0.25, 0.25, 0.25, 0.25], dtype=torch.float64)
    assert exact.kl_divergence(p, q) == pytest.approx(math.log(4) - 1.5 * math.log(2))
    assert exact.kl_divergence(q, p) == math.inf
    with pytest.raises(ValueError, match="beta"):
        exact.temper(p, -1.0)


@pytest.mark.seed("000-02")
def test_markov_lm_as_a_next_token_logits_model(lm):
    ids = torch.tensor([[0, 1, 1], [0, 2, 3]])
    logits = lm(ids)  # (B, V)
    assert logits.shape == (2, 4)
    assert torch.allclose(logits.softmax(-1).double(), torch.stack([lm.transition[1], lm.transition[3]]), atol=1e-6)


def test_bad_chain_is_rejected():
    with pytest.raises(ValueError, match="transition"):
        exact.MarkovLM(["a", "b"], [[0.5, 0.6], [1.0, 0.0]], max_len=2)
    with pytest.raises(ValueError, match="max_len"):
        exact.MarkovLM(["a", "b"], [[0.5, 0.5], [1.0, 0.0]], max_len=0)


# -- sampling P^β exactly: per-token P^β times the look-ahead factor h_β (book: llm-lookahead) --------------

@pytest.mark.seed("000-07")
@pytest.mark.parametrize("beta", [0.0, 0.5, 2.0, 7.0])
def test_lookahead_sampler_law_is_sequence_level_p_beta(lm, beta):
    """The product of the look-ahead next-token laws is P(y)^β / Z, enumerated independently."""
    p = exact.sequence_probs(lm)
    target = [float(pi) ** beta for pi in p]  # P(y)^β by plain floats (0^0 = 1: every sentence counts)
    Z = sum(target)
    law = exact.lookahead_distribution(lm, beta)
    torch.testing.assert_close(law, torch.tensor(target, dtype=torch.float64) / Z, rtol=1e-10, atol=1e-14)
    # h_β at the start is the normaliser Z_β
    assert exact.lookahead(lm, beta)[0, lm.end].item() == pytest.approx(Z, rel=1e-12)
    if beta != 1.0:  # without the look-ahead factor it would be per-token tempering, which is far from it
        assert exact.kl_divergence(law, exact.per_token_distribution(lm, beta)) > 1e-3


def test_lookahead_by_hand():
    """A chain with max_len = 2: h_β[1, x] = P(e|x)^β + P(x|x)^β·1, h_β[0, e] = P(x|e)^β h_β[1, x]."""
    lm = exact.MarkovLM(["e", "x"], [[0.0, 1.0], [0.6, 0.4]], max_len=2)
    beta = 2.0
    h = exact.lookahead(lm, beta)
    assert h[1, 1].item() == pytest.approx(0.36 + 0.16)        # "x." or "xx." (the cap then ends it)
    assert h[0, 0].item() == pytest.approx(0.52)
    # after "x": stop with 0.36 / 0.52, go on with 0.16 · 1 / 0.52
    q = exact.lookahead_next_probs(lm, (1,), beta, h)
    assert q.tolist() == pytest.approx([0.36 / 0.52, 0.16 / 0.52])


def test_lookahead_at_beta_one_is_the_model(lm):
    """At β = 1 every completion mass is 1 and the look-ahead law is P's own next-token law."""
    assert torch.allclose(exact.lookahead(lm, 1.0), torch.ones(lm.max_len + 1, lm.vocab_size, dtype=torch.float64))
    for prefix in [(), (1,), (1, 3, 2), (1, 1, 1, 1, 1)]:
        assert torch.allclose(exact.lookahead_next_probs(lm, prefix, 1.0), lm.next_probs(prefix))


@pytest.mark.seed("000-07")
def test_sample_sequence_level_frequencies(lm):
    """8,000 draws at β = 3: every sentence's frequency within 5 binomial standard errors of P^β/Z."""
    beta, n = 3.0, 8000
    draws = exact.sample_sequence_level(lm, beta, n, generator=torch.Generator().manual_seed(0))
    seqs = exact.sequences(lm)
    exact_law = exact.sequence_level_distribution(lm, beta)
    counts = torch.zeros(len(seqs), dtype=torch.float64)
    index = {s: i for i, s in enumerate(seqs)}
    for s in draws:
        counts[index[s]] += 1
    freq = counts / n
    se = (exact_law * (1 - exact_law) / n).sqrt()
    assert ((freq - exact_law).abs() <= 5 * se + 1 / n).all()
    # and per-token tempering's law is rejected by the same draws ("b." is its most visible gap)
    b_dot = index[(2, 0)]
    q = exact.per_token_distribution(lm, beta)[b_dot]
    assert abs(freq[b_dot] - q) > 10 * math.sqrt(q * (1 - q) / n)


def test_lookahead_rejects_bad_arguments(lm):
    with pytest.raises(ValueError, match="beta must be finite"):
        exact.lookahead(lm, math.inf)
    with pytest.raises(ValueError, match="beta must be finite"):
        exact.lookahead(lm, -0.5)
    with pytest.raises(ValueError, match="n must be an int"):
        exact.sample_sequence_level(lm, 2.0, -1)
