"""Exact properties that kill the mutants an earlier mutation run left alive (issue 20).

The first six tests kill the six survivors of the issue (benchmarks/results/mutation_survivors.md
shows each failing on its mutant); the rest kill survivors of `make mutation` runs.
"""
from __future__ import annotations

import math

import pytest
import torch

from tempguide.lm import generate
from tempguide.lm.filters import greedy_mask
from tempguide.lm.sample import check_ids, sample_next
from tempguide.lm.exact import (MarkovLM, entropy, greedy_sequence, kl_divergence, most_probable_sequence,
                                per_token_distribution, sample_sequence_level, sequence_level_distribution,
                                sequence_prob, sequences, temper, toy_lm)
from tempguide.metrics import image
from tempguide.metrics.image import fid_from_features, gaussian_stats
from tempguide.metrics.precision_recall import precision_recall
from tempguide.metrics.text import (bits_per_character, distinct_n, is_repetitive, repeats_at_end, repetition_rate,
                                    self_perplexity)
from tempguide.toy import GaussianMixture, mixture_1d, mixture_2d


# --- generate feeds the LAST `context` tokens (mutant: the first ones) ------------------------------

class CountUp:
    """A model with a tiny block size whose next token is (last token + 1) mod V, with certainty."""

    vocab_size, block_size = 5, 3

    def __init__(self):
        self.widths = []

    def __call__(self, ids):  # (B, T) -> (B, T, V): position j predicts ids[:, j] + 1
        self.widths.append(ids.shape[1])
        return torch.nn.functional.one_hot((ids + 1) % self.vocab_size, self.vocab_size).float().log()


@pytest.mark.parametrize("context", [None, 1, 2])
def test_generate_feeds_the_last_context_tokens(context):
    model = CountUp()
    out = generate(model, torch.tensor([[4, 0]]), 12, temperature=0, context=context)
    assert out.tolist() == [[4, 0] + [(1 + i) % 5 for i in range(12)]]  # counts up without a break
    assert max(model.widths) == (context or model.block_size)


# --- FID uses the unbiased covariance; 1-D features work ------------------------------------------

def test_fid_of_two_point_sets_by_hand():
    # A = {0, 2}: mean 1, unbiased variance 2;  B = {0, 4}: mean 2, variance 8 (biased: 1 and 4).
    # In 1-D, d² = (μ₁ − μ₂)² + (σ₁ − σ₂)² = 1 + (√2 − √8)² = 1 + 2 = 3 (biased covariances: 2).
    a, b = torch.tensor([[0.0, 0.0], [2.0, 0.0]]), torch.tensor([[0.0, 0.0], [4.0, 0.0]])
    assert fid_from_features(a, b) == pytest.approx(3.0, abs=1e-12)
    # orthogonal spreads: the cross term vanishes, d² = ‖(1, 0) − (0, 1)‖² + 2 + 2 = 6
    c = torch.tensor([[0.0, 0.0], [0.0, 2.0]])
    assert fid_from_features(a, c) == pytest.approx(6.0, abs=1e-12)


def test_fid_of_one_dimensional_features():
    assert fid_from_features(torch.tensor([[0.0], [2.0]]), torch.tensor([[0.0], [4.0]])) == pytest.approx(3.0, abs=1e-12)
    mean, cov = gaussian_stats(torch.tensor([[0.0], [2.0]]))
    assert mean.tolist() == [1.0] and cov.tolist() == [[2.0]]


# --- precision/recall: a point exactly on a k-NN ball's boundary is inside (Kynkäänniemi et al.) ------

GRID = torch.tensor([[i, j] for i in range(3) for j in range(3)], dtype=torch.float64)  # k = 1 and 2: radius 1
PROBES = torch.tensor([[-1.0, 0.0], [3.0, 1.0], [1.0, -1.0], [5.0, 5.0]])  # three at distance 1, one far


@pytest.mark.parametrize("k", [1, 2])
def test_points_on_the_knn_radius_count_as_inside(k):
    precision, _ = precision_recall(GRID, PROBES, k=k)
    _, recall = precision_recall(PROBES, GRID, k=1)  # roles swapped: the probes are the real set
    assert precision == recall == 0.75


# --- temper(p, ∞) splits the mass evenly among tied maxima ---------------------------------------

def test_temper_infinity_splits_ties_evenly():
    assert temper(torch.tensor([0.4, 0.4, 0.2]), math.inf).tolist() == [0.5, 0.5, 0.0]
    assert temper(torch.tensor([[0.2, 0.3, 0.5], [0.25, 0.5, 0.25]]), math.inf).tolist() == [[0, 0, 1], [0, 1, 0]]
    assert temper(torch.tensor([[0.2, 0.8], [0.6, 0.4]]), math.inf).tolist() == [[0, 1], [1, 0]]  # each row's own max
    assert temper([0.5, 0.5], 2.0).dtype == torch.float64  # a list is read as float64


def test_per_token_and_sequence_infinity_limits_on_a_chain_with_ties():
    # after the start "a" and "b" tie; after "a" the end "." and "a" tie; "aa" is forced to end.
    lm = MarkovLM(tokens=[".", "a", "b"], transition=[[0.2, 0.4, 0.4], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]], max_len=2)
    assert sequences(lm) == [(0,), (1, 0), (2, 0), (1, 1, 0)]
    assert per_token_distribution(lm, math.inf).tolist() == [0.0, 0.25, 0.5, 0.25]
    # P = (0.2, 0.2, 0.4, 0.2): the maximum "b." is unique, so the sequence-level limit is one-hot
    assert sequence_level_distribution(lm, math.inf).tolist() == [0.0, 0.0, 1.0, 0.0]


# --- survivors of the first `make mutation` run (lm/, metrics/, toy.py) -------------------------------

def test_accuracy_per_class_when_every_sample_has_the_same_class():
    images = -torch.ones(3, 1, 28, 28)
    images[:2, 0, 0, 4] = 1.0  # two of the three are recognised as a 4

    class Brightest(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x):  # logits: the first ten pixels
            return x.flatten(1)[:, :10]

        features = forward

    per_class = image.accuracy_per_class(Brightest(), images, torch.tensor([4, 4, 4]))
    assert per_class.shape == (10,) and per_class.dtype == torch.float64
    assert per_class[4] == pytest.approx(2 / 3) and per_class[torch.arange(10) != 4].isnan().all()
    none_present = image.accuracy_per_class(Brightest(), images, torch.tensor([4, 4, 4]), num_classes=2)
    assert none_present.dtype == torch.float64 and none_present.shape == (2,) and none_present.isnan().all()
    diversity = image.diversity(Brightest(), images, torch.tensor([4, 4, 4]))
    assert diversity.shape == (10,) and diversity.dtype == torch.float64
    assert diversity[4] == pytest.approx((0 + 2 * 2) / 3)  # distances 0, 2, 2 between the three
    assert image.diversity(Brightest(), images) == pytest.approx(4 / 3)  # no labels: the whole set


def test_sharpness_is_per_image_and_keeps_float64():
    images = torch.zeros(2, 1, 4, 4, dtype=torch.float64)
    images[1, 0, 1, 1] = 1.0  # the Laplacian on the 2×2 valid positions: −4, 1, 1, 0
    out = image.sharpness(images)
    assert out.dtype == torch.float64 and out.tolist() == [0.0, pytest.approx(torch.tensor([-4.0, 1, 1, 0]).var().item())]


def labelled_mixture():
    return GaussianMixture([1.0, 2.0, 1.0], [[0.0], [1.0], [2.0]], [1.0, 1.0, 1.0], labels=[0, 1, 1])


def test_restrict_keeps_the_labels_of_the_kept_components():
    sub = labelled_mixture().restrict([2, 0])
    assert sub.labels.tolist() == [1, 0] and sub.weights.tolist() == [0.5, 0.5]
    assert labelled_mixture().condition(1).labels.tolist() == [1, 1]
    assert GaussianMixture([1.0, 1.0], [[0.0], [1.0]], [1.0, 1.0]).restrict([1]).labels is None
    with pytest.raises(ValueError, match=r"components must name at least one index in \[0, 3\), got none"):
        labelled_mixture().restrict(torch.tensor([], dtype=torch.long))


@pytest.mark.parametrize("c, match", [(True, "class c must be one integer"), (2, r"class c must be in \[0, 2\), got 2")])
def test_condition_refuses_a_boolean_or_out_of_range_class(c, match):
    with pytest.raises(ValueError, match=match):
        labelled_mixture().condition(c)


@pytest.mark.parametrize("call", ["condition", "class_prior", "class_posterior"])
def test_class_methods_need_labels(call):
    unlabelled = GaussianMixture([1.0], [[0.0]], [1.0])
    args = {"condition": (0,), "class_prior": (), "class_posterior": (torch.zeros(1, 1), 1.0)}[call]
    with pytest.raises(ValueError, match=rf"^{call}\(\) needs a mixture with labels$"):
        getattr(unlabelled, call)(*args)


# --- bits per character: the windows it scores with ------------------------------------------------

class Cycle:
    """V = 4 tokens.  At window position 0 the next token is uniform (2 bits); later P(last + 1) = 1/2 (1 bit)."""

    def __init__(self, block_size=None, warmup=1):
        if block_size is not None:
            self.block_size = block_size
        self.warmup = warmup  # window positions < warmup predict uniformly

    def __call__(self, ids):  # (B, T) -> (B, T, 4)
        probs = torch.full((*ids.shape, 4), 1 / 6)
        probs.scatter_(-1, ((ids + 1) % 4)[..., None], 0.5)
        probs[:, :self.warmup] = 0.25
        return probs.log()


CYCLE = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 0])  # 8 predictions


@pytest.mark.parametrize("model, kwargs, bits", [
    (Cycle(), {}, (2 + 7) / 8),                    # no block size: one window, 2 bits then 7 × 1 bit
    (Cycle(block_size=4), {}, (2 + 3) / 4),         # windows of the block size, 4 predictions each
    (Cycle(block_size=4), {"context": 2}, 1.5),     # the context asked for, not the block size
])
def test_bits_per_character_scores_windows_of_the_context(model, kwargs, bits):
    assert bits_per_character(model, CYCLE, **kwargs) == pytest.approx(bits, rel=1e-6)
    assert bits_per_character(model, torch.stack([CYCLE, CYCLE]), **kwargs) == pytest.approx(bits, rel=1e-6)


# --- survivors in toy.py, lm/exact.py and precision_recall.py -----------------------------------------

def test_the_course_toys_are_the_ones_the_book_defines():
    # book "The exact mixture": 1-D modes at ±2 (weights 0.7 / 0.3, s = 0.5); 2-D four modes in two classes
    one, two = mixture_1d(), mixture_2d()
    assert (one.weights.tolist(), one.means.tolist(), one.stds.tolist(), one.labels.tolist()) == \
        ([0.7, 0.3], [[-2.0], [2.0]], [0.5, 0.5], [0, 1])
    assert (two.weights.tolist(), two.means.tolist(), two.stds.tolist(), two.labels.tolist()) == \
        ([0.4, 0.1, 0.3, 0.2], [[-2.0, -1.0], [-1.0, 2.0], [2.0, 1.0], [1.0, -2.0]], [0.5, 0.3, 0.4, 0.3], [0, 0, 1, 1])


def test_log_prob_of_a_standard_gaussian_in_two_dimensions():
    g = GaussianMixture([1.0], [[0.0, 0.0]], [1.0])
    assert g.log_prob(torch.zeros(1, 2, dtype=torch.float64)).item() == pytest.approx(-math.log(2 * math.pi), abs=1e-12)


def test_sample_follows_the_recipe_with_the_generator():
    mix = mixture_2d()
    y, k = mix.sample(5, generator=torch.Generator().manual_seed(0), return_components=True)
    g = torch.Generator().manual_seed(0)  # y = μ_k + s_k ε, k ~ π then ε ~ N(0, I) in float64, from the same stream
    k_ref = torch.multinomial(mix.weights, 5, replacement=True, generator=g)
    eps = torch.randn(5, 2, dtype=torch.float64, generator=g)
    assert torch.equal(k, k_ref) and torch.equal(y, mix.means[k_ref] + mix.stds[k_ref, None] * eps)
    assert mix.sample(1).shape == (1, 2)
    for n in (0, 1.5):
        with pytest.raises(ValueError, match=f"n must be a positive int, got {n!r}"):
            mix.sample(n)


def test_score_keeps_the_dtype_of_z_and_restrict_takes_one_index():
    mix = mixture_2d()
    assert mix.score(torch.zeros(3, 2, dtype=torch.float32), 0.5).dtype == torch.float32
    one = mix.restrict(torch.tensor(2))  # a 0-dim index is one component
    assert one.weights.tolist() == [1.0] and one.means.tolist() == [[2.0, 1.0]]


def test_sequence_prob_defaults_to_beta_one():
    lm = toy_lm()
    assert sequence_prob(lm, (2, 0)) == pytest.approx(0.35 * 0.8, abs=1e-15)  # "b." = P(b | start) P(end | b)


def test_precision_recall_default_k_is_three_and_shapes_are_checked():
    # a probe 1.5 from the corner (0, 0): inside its k = 4 ball (radius 2), outside its k = 3 ball (radius √2)
    fake = torch.cat([GRID, torch.tensor([[-1.5, 0.0]], dtype=torch.float64)])
    assert precision_recall(GRID, fake)[0] == pytest.approx(0.9)
    assert precision_recall(GRID, fake, k=4)[0] == 1.0
    with pytest.raises(ValueError, match="real and fake must be"):
        precision_recall(torch.zeros(5), torch.zeros(5, 2))
    with pytest.raises(ValueError, match=r"k must be in \[1, 8\] for 9 points, got 9"):
        precision_recall(GRID, GRID, k=9)


def test_toy_lm_tokens_and_the_chapter_sentences():
    lm = toy_lm()
    assert lm.tokens == [".", "a", "b", "c"] and lm.end == 0
    assert lm.decode(greedy_sequence(lm)) == "aaaaa." and lm.decode(most_probable_sequence(lm)) == "b."
    assert lm(torch.tensor([[0, 1]])).dtype == torch.get_default_dtype()  # logits for generate


def test_entropy_is_computed_in_float64():
    p = torch.tensor([0.25, 0.75], dtype=torch.float32)  # exact in float32; its logarithms are not
    assert entropy(p) == pytest.approx(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)), abs=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    ({"transition": [[1.0]]}, r"transition must have shape \(2, 2\), got \(1, 1\)"),
    ({"transition": [[0.5, 0.6], [1.0, 0.0]]}, "^transition must be non-negative with rows summing to 1$"),
    ({"end": 2}, r"end must be a token id in \[0, 2\), got 2"),
])
def test_markov_lm_refuses_bad_arguments_with_their_name(kwargs, match):
    args = {"tokens": [".", "a"], "transition": [[0.5, 0.5], [1.0, 0.0]], "max_len": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        MarkovLM(**args)


def test_gaussian_mixture_stores_float64_and_checks_shapes():
    g = GaussianMixture(torch.tensor([1.0, 1.0]), torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0]))
    assert (g.means.dtype, g.stds.dtype, g.means.shape, g.labels) == (torch.float64, torch.float64, (2, 1), None)
    for args, match in [(([[1.0]], [[0.0]], [1.0]), r"weights must have shape \(K,\) with K >= 1, got \(1, 1\)"),
                        (([1.0, 0.0], [[0.0], [1.0]], [1.0, 1.0]), "weights must all be finite and > 0"),
                        (([1.0], [[0.0]], [[1.0]]), r"stds must have shape \(K,\) = \(1,\), got \(1, 1\)")]:
        with pytest.raises(ValueError, match=match):
            GaussianMixture(*args)


def test_gaussian_mixture_labels_shape_and_repr():
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\), got \(1, 2\)"):
        GaussianMixture([1.0, 1.0], [[0.0], [1.0]], [1.0, 1.0], labels=[[0, 1]])
    assert repr(GaussianMixture([1.0], [[0.0]], [1.0])) == "GaussianMixture(weights=[1.0], means=[[0.0]], stds=[1.0], labels=None)"
    assert repr(GaussianMixture([1.0], [[0.0]], [1.0], labels=[3])).endswith("labels=[3])")


def test_sample_sequence_level_of_zero_sequences_is_empty_and_draws_from_the_generator():
    assert sample_sequence_level(toy_lm(), 2.0, 0) == []
    draw = [sample_sequence_level(toy_lm(), 1.0, 20, generator=torch.Generator().manual_seed(s)) for s in (5, 5)]
    torch.manual_seed(0)  # the global stream must not matter
    assert draw[0] == draw[1] == sample_sequence_level(toy_lm(), 1.0, 20, generator=torch.Generator().manual_seed(5))


# --- text metrics: edges and pass-through of their options ------------------------------------------

def test_repeats_at_end_counts_every_repeat_and_needs_n():
    assert repeats_at_end(["a", "b"] * 4, 2) == 4 and repeats_at_end(["a", "b"], 2) == 1
    with pytest.raises(ValueError, match="^n must be >= 1, got 0$"):
        repeats_at_end(["a"], 0)


def test_is_repetitive_options_and_the_cut_last_word():
    assert is_repetitive("a a a ", min_phrase=1) and not is_repetitive("a a a ")  # one-word phrases only if asked
    assert is_repetitive("x y x y x y z")  # "z" may be cut by the budget: dropped, the rest is "x y" × 3
    with pytest.raises(ValueError, match="^need min_phrase >= 1 and min_repeats >= 2, got 0, 3$"):
        is_repetitive("a", min_phrase=0)
    assert repetition_rate(["a a a "], min_phrase=1) == 1.0 and repetition_rate(["a b a b "], min_repeats=2) == 1.0
    with pytest.raises(ValueError, match="^texts must be a non-empty list of strings$"):
        repetition_rate([])


def test_distinct_n_defaults_to_bigrams():
    assert distinct_n(["a b a b"]) == pytest.approx(2 / 3)  # (a b) (b a) (a b)
    with pytest.raises(ValueError, match="^n must be >= 1, got 0$"):
        distinct_n(["a"], 0)


def test_self_perplexity_prompt_range_and_context():
    # warm-up 2: a window position < 2 predicts uniformly (4), later positions give the next token 1/2 (2)
    model = Cycle(block_size=4, warmup=2)
    ids = CYCLE[None]  # (1, 9)
    assert self_perplexity(model, ids, prompt_length=4) == pytest.approx(2.0, rel=1e-6)  # 3 tokens of context
    assert self_perplexity(model, ids, prompt_length=4, context=2) == pytest.approx(4.0, rel=1e-6)
    assert self_perplexity(model, ids, prompt_length=1) > 2.0  # prompt_length 1 is allowed
    with pytest.raises(ValueError, match=r"prompt_length must be in \[1, 9\), got 9"):
        self_perplexity(model, torch.stack([CYCLE, CYCLE]), prompt_length=9)


# --- sample_next passes every filter on; check_ids names what it got ------------------------------------

def test_sample_next_applies_top_k_min_p_and_temperature_one():
    logits = torch.tensor([[0.0, 0.5, 1.0, 0.2]] * 200)  # 200 draws of one row
    g = torch.Generator().manual_seed(0)
    for kw in ({"top_k": 1}, {"min_p": 1.0}):  # only the argmax is left
        assert (sample_next(logits, generator=g, **kw) == 2).all()
    ids = sample_next(logits, generator=torch.Generator().manual_seed(1))  # T = 1: softmax of the logits as they are
    assert torch.equal(ids, torch.multinomial(logits.softmax(-1), 1, generator=torch.Generator().manual_seed(1))[:, 0])


def test_check_ids_names_the_wrong_type_and_the_open_range():
    with pytest.raises(ValueError, match=r"^prompt must be an integer tensor of token ids, got list$"):
        check_ids([1, 2], "prompt", 5)
    with pytest.raises(ValueError, match=r"^prompt must hold token ids in \[0, V\), got range \[-1, 3\]$"):
        check_ids(torch.tensor([-1, 3]), "prompt", None)


def test_greedy_mask_works_on_any_leading_shape():
    inf = float("-inf")
    assert greedy_mask(torch.tensor([0.0, 2.0, 1.0])).tolist() == [inf, 2.0, inf]
    assert greedy_mask(torch.tensor([[[3.0, 1.0]], [[0.0, 4.0]]])).tolist() == [[[3.0, inf]], [[inf, 4.0]]]


def test_kl_divergence_in_float64_and_where_q_is_one():
    assert kl_divergence([1.0, 0.0], [1.0, 0.0]) == 0.0 and kl_divergence([0.5, 0.5], [1.0, 0.0]) == math.inf
    p, q = [0.1, 0.9], [0.2, 0.8]  # Python floats, read as float64
    assert kl_divergence(p, q) == pytest.approx(0.1 * math.log(0.5) + 0.9 * math.log(0.9 / 0.8), abs=1e-15)
