"""Exact properties that kill the mutants an earlier mutation run left alive (issue 20).

Each test names the planted bug it must catch; benchmarks/results/mutation.md
shows each one failing on its mutant.
"""
from __future__ import annotations

import math

import pytest
import torch

from tempguide.lm import generate
from tempguide.lm.exact import MarkovLM, per_token_distribution, sequences, sequence_level_distribution, temper
from tempguide.metrics.image import fid_from_features, gaussian_stats
from tempguide.metrics.precision_recall import precision_recall


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


def test_per_token_and_sequence_infinity_limits_on_a_chain_with_ties():
    # after the start "a" and "b" tie; after "a" the end "." and "a" tie; "aa" is forced to end.
    lm = MarkovLM(tokens=[".", "a", "b"], transition=[[0.2, 0.4, 0.4], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]], max_len=2)
    assert sequences(lm) == [(0,), (1, 0), (2, 0), (1, 1, 0)]
    assert per_token_distribution(lm, math.inf).tolist() == [0.0, 0.25, 0.5, 0.25]
    # P = (0.2, 0.2, 0.4, 0.2): the maximum "b." is unique, so the sequence-level limit is one-hot
    assert sequence_level_distribution(lm, math.inf).tolist() == [0.0, 0.0, 1.0, 0.0]
