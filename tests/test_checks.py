"""tempguide.checks: accepts correct implementations (written independently of the reference),
rejects wrong ones at the case that shows the mistake, and says "not implemented yet"."""
import math

import pytest
import torch

from tempguide import checks
from tempguide.lm import exact, filter_logits


# --- independent implementations (the textbook definitions) -------------------------------------

def temperature_ok(logits, temperature):
    if temperature == 0:
        first_max = torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).bool()
        return torch.where(first_max, logits, -math.inf)
    return logits / temperature


def top_k_ok(logits, k):
    k = min(k, logits.shape[-1])
    kth = logits.sort(dim=-1, descending=True).values[..., k - 1:k]  # the k-th largest
    return logits.masked_fill(logits < kth, -math.inf)


def top_p_ok(logits, top_p):
    """Keep a token while the mass of the more probable tokens is below top_p."""
    probs = logits.softmax(-1)
    mass_before = (probs.unsqueeze(-2) * (probs.unsqueeze(-2) > probs.unsqueeze(-1))).sum(-1)
    return logits.masked_fill(mass_before >= top_p, -math.inf)


def per_token_ok(lm, beta):
    out = []
    for y in exact.sequences(lm):
        q = 1.0
        for i, token in enumerate(y):
            p = lm.next_probs(y[:i])
            tempered = (p == p.max()).double() if math.isinf(beta) else p ** beta
            q *= float(tempered[token] / tempered.sum())
        out.append(q)
    return torch.tensor(out, dtype=torch.float64)


def sequence_level_ok(lm, beta):
    p = torch.tensor([math.prod(float(lm.next_probs(y[:i])[t]) for i, t in enumerate(y))
                      for y in exact.sequences(lm)], dtype=torch.float64)
    w = (p == p.max()).double() if math.isinf(beta) else p ** beta
    return w / w.sum()


CORRECT = [
    (checks.check_temperature, temperature_ok),
    (checks.check_temperature, lambda logits, temperature: filter_logits(logits, temperature=temperature)),
    (checks.check_top_k, top_k_ok),
    (checks.check_top_p, top_p_ok),
    (checks.check_per_token_distribution, per_token_ok),
    (checks.check_sequence_level_distribution, sequence_level_ok),
]


@pytest.mark.parametrize("check, fn", CORRECT, ids=lambda x: getattr(x, "__name__", ""))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_correct_implementations_pass(check, fn, seed):
    result = check(fn, seed=seed, verbose=False)
    assert result and result.passed and not result.not_implemented, result.report
    assert result.cases >= 9


def greedy_keeps_ties(logits, temperature):
    if temperature == 0:
        return logits.masked_fill(logits < logits.amax(-1, keepdim=True), -math.inf)
    return logits / temperature


def top_k_exactly_k(logits, k):
    keep = torch.zeros_like(logits, dtype=torch.bool)
    keep.scatter_(-1, logits.topk(min(k, logits.shape[-1]), -1).indices, True)
    return logits.masked_fill(~keep, -math.inf)


def top_p_drops_the_crossing_token(logits, top_p):
    probs = logits.softmax(-1)
    sorted_probs, order = probs.sort(-1, descending=True)
    remove = sorted_probs.cumsum(-1) > top_p
    remove[..., 0] = False
    return logits.masked_fill(remove.scatter(-1, order, remove), -math.inf)


WRONG = [
    (checks.check_temperature, lambda logits, temperature: logits / temperature, "T = 0 is greedy", "NaN"),
    (checks.check_temperature, greedy_keeps_ties, "T = 0 with a tie", "different tokens removed"),
    (checks.check_temperature, lambda logits, temperature: logits * temperature, "T = 0.5", "probabilities"),
    (checks.check_top_k, top_k_exactly_k, "ties with the k-th largest", "different tokens removed"),
    (checks.check_top_p, top_p_drops_the_crossing_token, "top_p = 0.7", "different tokens removed"),
    (checks.check_top_p, lambda logits, top_p: logits, "tiny top_p", "different tokens removed"),
    (checks.check_per_token_distribution, sequence_level_ok, "beta = 0.5", "expected"),
    (checks.check_sequence_level_distribution, per_token_ok, "beta = 0.5", "expected"),
    (checks.check_per_token_distribution, lambda lm, beta: per_token_ok(lm, beta)[:-1], "beta = 1.0", "shape"),
]


@pytest.mark.parametrize("check, fn, case, problem", WRONG)
def test_wrong_implementations_fail_at_the_telling_case(check, fn, case, problem, capsys):
    result = check(fn)
    printed = capsys.readouterr().out
    assert not result and not result.not_implemented
    assert case in result.report and problem in result.report and "input:" in result.report
    assert printed.strip() == result.report  # verbose: the student sees exactly the report


def test_not_implemented_is_reported_as_such(capsys):
    def apply_temperature(logits, temperature):
        raise NotImplementedError("divide by T")

    result = checks.check_temperature(apply_temperature)
    assert not result and result.not_implemented and result.cases == 1
    assert "apply_temperature is not implemented yet" in capsys.readouterr().out


def test_other_exceptions_are_reported_with_the_input():
    def boom(logits, top_p):
        raise ValueError("bad shape")

    result = checks.check_top_p(boom, verbose=False)
    assert not result.not_implemented and "raised ValueError: bad shape" in result.report
    assert "top_p=1.0" in result.report  # the input of the first case


def test_the_check_compares_with_the_input_before_the_student_function_runs():
    def in_place(logits, temperature):  # right answer, but it also divides the caller's tensor
        return logits.div_(temperature) if temperature else temperature_ok(logits, 0)

    assert checks.check_temperature(in_place, verbose=False)
