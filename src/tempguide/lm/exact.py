"""An autoregressive toy whose whole sequence distribution can be enumerated (book: llm-per-token; notebook 10).

The seed's point: tempering each next-token distribution,

    Q_β(y_{i+1} | y_1..y_i) ∝ P(y_{i+1} | y_1..y_i)^β,   Q_β(y) = Π_i Q_β(y_i | y_<i),

is not tempering the sequence distribution, P^β(y) ∝ P(y_1..y_N)^β.  At β = 1 both
are P; at β = ∞ per-token tempering is greedy decoding and sequence-level
tempering is the most probable sequence, and they differ.

API (stable; the homework and ``tempguide.checks`` build on it)
----------------------------------------------------------------
Tokens are ints; ``lm.tokens[i]`` is the string of token ``i``.  A *sequence* is
a tuple of token ids ``(y_1, ..., y_N)`` that ends with ``lm.end`` (the end
token, not counted in the length); the end token also plays the role of the
start token (it is the prompt).  Probabilities are float64 tensors.

``MarkovLM(tokens, transition, max_len, end=0)``
    ``transition[a, b] = P(next = b | last = a)`` (rows sum to 1); after
    ``max_len`` non-end tokens the end token is forced.
    ``lm.next_probs(prefix) -> (V,)`` next-token probabilities after ``prefix``
    (a tuple of ids, without the start token).
    ``lm(ids) -> (B, V)`` next-token *logits* for ids (B, T) that start with the
    end token: plugs straight into ``tempguide.lm.generate``.
    ``lm.decode(seq) -> str``.
``toy_lm() -> MarkovLM``
    The chapter's toy: tokens ``. a b c``, ``max_len=5`` (363 sequences).  Greedy
    decoding gives ``aaaaa.`` (probability ≈ 0.0047) while the most probable
    sequence is ``b.`` (probability 0.28).
``temper(probs, beta) -> probs``
    P^β / Z on the support of ``probs`` (..., V); ``beta=0`` is uniform on the
    support, ``beta=math.inf`` is uniform on the maximisers (the limit).
``sequences(lm) -> list[tuple[int, ...]]``
    Every sequence of positive probability, shortest first (a fixed order; all
    distributions below are indexed by it).  Refuses (``ValueError``) a model with
    more than ``MAX_SEQUENCES`` sequences, counted before enumerating.
``count_sequences(lm) -> float``                  how many there are, without enumerating them.
``sequence_prob(lm, seq, beta=1.0) -> float``
    Per-token tempered probability Π_i temper(P(·|y_<i), β)[y_i] (β = 1: P(seq)).
``sequence_probs(lm) -> (S,)``                    P(y) for every sequence (sums to 1).
``per_token_distribution(lm, beta) -> (S,)``      Q_β(y), per-token tempering.
``sequence_level_distribution(lm, beta) -> (S,)`` P(y)^β / Σ P^β, sequence-level.
``kl_divergence(p, q) -> float``                  Σ p ln(p/q) in nats (∞ if p ≰ q).
``entropy(p) -> float``                           −Σ p ln p in nats.
``greedy_sequence(lm) -> tuple``                  argmax at every step (β = ∞ per token).
``most_probable_sequence(lm) -> tuple``           argmax_y P(y) (β = ∞ for the sequence).

Sampling P^β exactly (book: llm-lookahead; notebook 10)
-------------------------------------------------------
``lookahead(lm, beta) -> (max_len + 1, V)``
    h_β[n, a] = Σ over completions of P^β, from a prefix of length n ending in a
    (dynamic programming, no enumeration); h_β[0, end] = Z_β = Σ_y P(y)^β.
``lookahead_next_probs(lm, prefix, beta, h=None) -> (V,)``
    Q(b | prefix) ∝ P(b | prefix)^β · h_β(state after b): the next-token law whose
    product over a sequence is exactly P^β(y) = P(y)^β / Z_β.
``sample_sequence_level(lm, beta, n, generator=None) -> list[tuple]``
    n sequences drawn from P^β token by token with that law.
``lookahead_distribution(lm, beta) -> (S,)``
    the law of that sampler over ``sequences(lm)``, by multiplying its next-token
    probabilities (equal to ``sequence_level_distribution``; the tests check it).
"""
from __future__ import annotations

import dataclasses
import math

import torch

#: the most sequences an enumeration (``sequences`` and every distribution over them) will list;
#: a million already takes minutes in this pure-Python walk.
MAX_SEQUENCES = 1_000_000


@dataclasses.dataclass
class MarkovLM:
    """A first-order Markov chain over ``tokens`` with an end token and a length cap (see module docstring)."""

    tokens: list[str]
    transition: torch.Tensor  # (V, V), transition[a, b] = P(b | a)
    max_len: int
    end: int = 0

    def __post_init__(self):
        self.transition = torch.as_tensor(self.transition, dtype=torch.float64)
        V = len(self.tokens)
        if self.transition.shape != (V, V):
            raise ValueError(f"transition must have shape ({V}, {V}), got {tuple(self.transition.shape)}")
        if (self.transition < 0).any() or not torch.allclose(self.transition.sum(1), torch.ones(V, dtype=torch.float64)):
            raise ValueError("transition must be non-negative with rows summing to 1")
        if not isinstance(self.max_len, int) or self.max_len < 1:
            raise ValueError(f"max_len must be an int >= 1, got {self.max_len!r}")
        if not 0 <= self.end < V:
            raise ValueError(f"end must be a token id in [0, {V}), got {self.end!r}")

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def next_probs(self, prefix: tuple[int, ...]) -> torch.Tensor:
        """P(y_{i+1} | y_1..y_i) for ``prefix`` = (y_1..y_i) (no start token); (V,) float64."""
        if len(prefix) >= self.max_len:  # the cap forces the end token
            return torch.nn.functional.one_hot(torch.tensor(self.end), self.vocab_size).double()
        last = prefix[-1] if prefix else self.end  # the end token doubles as the start token
        return self.transition[last]

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        """Next-token logits (B, V) for ``ids`` (B, T) that begin with the start (= end) token."""
        rows = [self.next_probs(tuple(int(i) for i in row[1:])) for row in ids]
        return torch.stack(rows).log().to(torch.get_default_dtype())  # log 0 = -inf: impossible tokens

    def decode(self, seq) -> str:
        return "".join(self.tokens[int(i)] for i in seq)


def toy_lm() -> MarkovLM:
    """The chapter's toy (book: llm-per-token; notebook 10): greedy decoding repeats ``a`` while ``b.`` is the most probable sentence."""
    #            next:  .     a     b     c
    transition = [[0.00, 0.45, 0.35, 0.20],   # after "." (the start): never an empty sentence
                  [0.10, 0.32, 0.28, 0.30],   # after "a": the chain keeps going, undecided
                  [0.80, 0.10, 0.05, 0.05],   # after "b": almost surely the end
                  [0.50, 0.20, 0.20, 0.10]]   # after "c"
    return MarkovLM(tokens=[".", "a", "b", "c"], transition=transition, max_len=5, end=0)


def temper(probs: torch.Tensor, beta: float) -> torch.Tensor:
    """P^β / Σ P^β along the last axis, on the support of ``probs`` (β = 0 uniform, β = ∞ argmax limit)."""
    if not beta >= 0:
        raise ValueError(f"beta must be >= 0 (math.inf allowed), got {beta!r}")
    probs = torch.as_tensor(probs, dtype=torch.float64)
    support = probs > 0
    if math.isinf(beta):
        weights = (probs == probs.amax(dim=-1, keepdim=True)).double()
    else:  # in log space: P^β = exp(β ln P), stable for large β
        log_w = torch.where(support, beta * probs.clamp_min(1e-300).log(), torch.tensor(-math.inf, dtype=torch.float64))
        return log_w.softmax(dim=-1)
    return weights / weights.sum(dim=-1, keepdim=True)


def count_sequences(lm: MarkovLM) -> float:
    """The number of complete sequences with P(y) > 0, counted on the transition's support (no enumeration).

    c[a] counts the live prefixes of the current length that end in token a (at length 0: one, the
    start token).  Each can end now if P(end | a) > 0; at ``max_len`` every live prefix ends (forced).
    Float64, so a count beyond 1.8e308 is ``inf``.
    """
    support = (lm.transition > 0).double()                         # (V, V)
    c = torch.nn.functional.one_hot(torch.tensor(lm.end), lm.vocab_size).double()
    total = 0.0
    for _ in range(lm.max_len):
        total += float(c @ support[:, lm.end])                      # prefixes that end here
        c = c @ support                                             # one more non-end token
        c[lm.end] = 0.0
        if not bool(c.any()):                                       # every prefix has ended
            return total
    return total + float(c.sum())                                   # the cap forces the end token


def _tree(lm: MarkovLM, beta: float) -> dict[tuple[int, ...], float]:
    """Q_β(y) for every complete sequence with P(y) > 0, by one walk over the prefix tree."""
    n = count_sequences(lm)
    if n > MAX_SEQUENCES:
        raise ValueError(f"lm has {n:.4g} sequences of positive probability, more than the "
                         f"MAX_SEQUENCES = {MAX_SEQUENCES:,} an exact enumeration lists; lower max_len "
                         f"(now {lm.max_len}) or the number of tokens (now {lm.vocab_size})")
    out: dict[tuple[int, ...], float] = {}
    stack: list[tuple[tuple[int, ...], float]] = [((), 1.0)]
    while stack:
        prefix, q = stack.pop()
        p_next = lm.next_probs(prefix)
        q_next = temper(p_next, beta).tolist()  # Q_β(· | prefix), computed once per prefix
        for y in (i for i, pi in enumerate(p_next.tolist()) if pi > 0):
            if y == lm.end:
                out[prefix + (y,)] = q * q_next[y]
            else:
                stack.append((prefix + (y,), q * q_next[y]))
    return out


def sequences(lm: MarkovLM) -> list[tuple[int, ...]]:
    """Every complete sequence (ending with ``lm.end``) of positive probability, shortest first."""
    return sorted(_tree(lm, 1.0), key=lambda s: (len(s), s))


def sequence_prob(lm: MarkovLM, seq, beta: float = 1.0) -> float:
    """Π_i temper(P(·|y_<i), β)[y_i]: the per-token tempered probability of ``seq`` (β = 1: P(seq))."""
    p = 1.0
    for i, y in enumerate(seq):
        p *= float(temper(lm.next_probs(tuple(seq[:i])), beta)[y])
    return p


def sequence_probs(lm: MarkovLM) -> torch.Tensor:
    """P(y) for every sequence of ``sequences(lm)``: (S,) float64, sums to 1."""
    return per_token_distribution(lm, 1.0)


def per_token_distribution(lm: MarkovLM, beta: float) -> torch.Tensor:
    """Q_β(y) = Π_i P^β(y_i | y_<i): the distribution temperature sampling really draws from (S,)."""
    q = _tree(lm, beta)
    return torch.tensor([q[s] for s in sequences(lm)], dtype=torch.float64)


def sequence_level_distribution(lm: MarkovLM, beta: float) -> torch.Tensor:
    """P^β(y) = P(y)^β / Σ_y' P(y')^β over whole sequences (S,): the seed's 'different' distribution."""
    return temper(sequence_probs(lm), beta)


def kl_divergence(p, q) -> float:
    """KL(p ‖ q) = Σ p ln(p / q) in nats; ∞ when p puts mass where q has none."""
    p, q = torch.as_tensor(p, dtype=torch.float64), torch.as_tensor(q, dtype=torch.float64)
    mask = p > 0
    if (q[mask] == 0).any():
        return math.inf
    return max(0.0, float((p[mask] * (p[mask].log() - q[mask].log())).sum()))  # ≥ 0 up to rounding


def entropy(p) -> float:
    """H(p) = −Σ p ln p in nats (0 ln 0 = 0)."""
    p = torch.as_tensor(p, dtype=torch.float64)
    p = p[p > 0]
    return float(-(p * p.log()).sum())


def greedy_sequence(lm: MarkovLM) -> tuple[int, ...]:
    """Greedy decoding (β = ∞ per token): take the most probable next token until the end token."""
    seq: tuple[int, ...] = ()
    while not seq or seq[-1] != lm.end:
        seq += (int(lm.next_probs(seq).argmax()),)
    return seq


def most_probable_sequence(lm: MarkovLM) -> tuple[int, ...]:
    """argmax_y P(y) by enumeration (β = ∞ for the whole sequence)."""
    seqs = sequences(lm)
    return seqs[int(sequence_probs(lm).argmax())]


def _check_finite_beta(beta: float) -> float:
    if not 0 <= beta < math.inf:
        raise ValueError(f"beta must be finite and >= 0 (the look-ahead needs P^β as numbers), got {beta!r}")
    return float(beta)


def lookahead(lm: MarkovLM, beta: float) -> torch.Tensor:
    """The look-ahead factor h_β[n, a] = Σ_{completions c} Π_j P(c_j | ·)^β of a prefix of length n ending in a.

    Why: P^β(y) = Π_i P(y_i | y_<i)^β / Z_β is a product of *unnormalised* per-token factors;
    normalising each step needs the mass P^β still puts on every continuation, which is h_β.
    For the Markov toy that mass depends only on the state (last token a, length n), so
    one backward pass computes it (book: llm-lookahead):

        h_β[max_len, a] = 1                                   (the cap forces the end, 1^β = 1)
        h_β[n, a] = P(end | a)^β + Σ_{b ≠ end} P(b | a)^β h_β[n + 1, b].

    Powers are taken on the support only (0^β = 0, also at β = 0).  h_β[0, end] = Z_β.
    """
    beta = _check_finite_beta(beta)
    support = lm.transition > 0
    w = torch.where(support, lm.transition.clamp_min(1e-300) ** beta, torch.zeros((), dtype=torch.float64))  # P(b|a)^β
    h = torch.ones(lm.max_len + 1, lm.vocab_size, dtype=torch.float64)
    not_end = torch.ones(lm.vocab_size, dtype=torch.float64)
    not_end[lm.end] = 0.0
    for n in range(lm.max_len - 1, -1, -1):
        # stop now (weight P(end|a)^β, nothing left to add) or go on to state (b, n + 1)
        h[n] = w[:, lm.end] + w @ (not_end * h[n + 1])
    return h


def lookahead_next_probs(lm: MarkovLM, prefix: tuple[int, ...], beta: float,
                         h: torch.Tensor | None = None) -> torch.Tensor:
    """Q(b | prefix) = P(b | prefix)^β h_β(state after b) / h_β(state now): the exact P^β next-token law (V,).

    The state after b is (b, len(prefix) + 1), or "finished" (h = 1) when b is the end token.
    Compare per-token tempering, which drops the h factor: that is all that separates Q_β from P^β.
    ``h`` is ``lookahead(lm, beta)``, computed once and reused across calls.
    """
    h = lookahead(lm, beta) if h is None else h
    n = len(prefix)
    p = lm.next_probs(prefix)
    w = torch.where(p > 0, p.clamp_min(1e-300) ** beta, torch.zeros((), dtype=torch.float64))
    after = h[n + 1].clone() if n < lm.max_len else torch.ones(lm.vocab_size, dtype=torch.float64)
    after[lm.end] = 1.0                       # ending now leaves one (empty) completion
    q = w * after
    return q / q.sum()                        # the sum is h_β(state now)


def sample_sequence_level(lm: MarkovLM, beta: float, n: int, *,
                          generator: torch.Generator | None = None) -> list[tuple[int, ...]]:
    """Draw ``n`` sequences from the sequence-level P^β(y) ∝ P(y)^β, token by token (book: llm-lookahead).

    Each step samples from P(b | prefix)^β · h_β(next state), normalised — per-token
    tempering times the look-ahead factor of :func:`lookahead`.
    """
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an int >= 0 (how many sequences), got {n!r}")
    h = lookahead(lm, beta)
    out = []
    for _ in range(n):
        seq: tuple[int, ...] = ()
        while not seq or seq[-1] != lm.end:
            q = lookahead_next_probs(lm, seq, beta, h)
            seq += (int(torch.multinomial(q, 1, generator=generator)),)
        out.append(seq)
    return out


def lookahead_distribution(lm: MarkovLM, beta: float) -> torch.Tensor:
    """The law of :func:`sample_sequence_level` over ``sequences(lm)`` (S,): products of its next-token probabilities."""
    h = lookahead(lm, beta)
    probs = []
    for seq in sequences(lm):
        q = 1.0
        for i, y in enumerate(seq):
            q *= float(lookahead_next_probs(lm, seq[:i], beta, h)[y])
        probs.append(q)
    return torch.tensor(probs, dtype=torch.float64)
