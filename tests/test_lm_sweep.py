"""The decoding sweep's metrics on a known prompt and continuation (book: llm-goldilocks; issue 20).

The scoring model is a unigram model, uniform on the seven characters of the
continuations (probability 1/10 each) and spreading the remaining 3/10 over the
other characters: the continuations' self-perplexity is exactly 10, and scoring
the prompt too would change it.  Word metrics are counted by hand.
"""
from __future__ import annotations

import pytest
import torch

from tempguide.data import TEXT_VOCAB, decode, encode
from tempguide.lm import generate
from tempguide.lm.sweep import decoding_metrics, format_table, sweep, text_windows

PROMPT = "Hamlet said "
CONTINUATIONS = ["to be to be to be ",   # "to be" three times in a row: repetitive
                 "be or not to be   "]   # not repetitive (same length: one tensor)
# word bigrams: (to be)(be to)(to be)(be to)(to be) and (be or)(or not)(not to)(to be): 5 distinct of 9
DISTINCT_2 = 5 / 9
ALPHABET = sorted(set("".join(CONTINUATIONS)))  # 7 characters: " ", b, e, n, o, r, t


class Unigram:
    """Next-character logits (B, T, V) independent of the context: P(c) = 1/10 on ALPHABET."""

    def __init__(self):
        V, inside = len(TEXT_VOCAB), encode("".join(ALPHABET))
        probs = torch.full((V,), 0.3 / (V - len(ALPHABET)), dtype=torch.float64)
        probs[inside] = 0.1
        self.logits = probs.log()

    def __call__(self, ids):
        return self.logits.expand(*ids.shape, -1)


class Script:
    """A sampler that writes the continuations with certainty: at length T it predicts character T − len(PROMPT)."""

    vocab_size = len(TEXT_VOCAB)

    def __call__(self, ids):  # (B, T) -> (B, V)
        n = ids.shape[1] - len(PROMPT)
        nxt = torch.stack([encode(c)[n] for c in CONTINUATIONS])
        return torch.nn.functional.one_hot(nxt, self.vocab_size).float().log()


def ids_of(prompt, continuations):
    return torch.stack([encode(prompt + c) for c in continuations])


def test_decoding_metrics_score_the_continuation_only():
    row = decoding_metrics(Unigram(), ids_of(PROMPT, CONTINUATIONS), len(PROMPT))
    assert row["texts"] == CONTINUATIONS
    assert row["repetition_%"] == 50.0
    assert row["distinct_2"] == pytest.approx(DISTINCT_2, abs=1e-12)
    assert row["self_perplexity"] == pytest.approx(10.0, rel=1e-5)


def test_prompt_words_do_not_enter_the_word_metrics():
    # a prompt that is itself "to be" repeated would make both rows repetitive if it were counted
    row = decoding_metrics(Unigram(), ids_of("to be to be to be ", CONTINUATIONS), len("to be to be to be "))
    assert row["repetition_%"] == 50.0 and row["distinct_2"] == pytest.approx(DISTINCT_2, abs=1e-12)


def test_sweep_generates_with_the_sampler_and_scores_with_the_model():
    prompts = ids_of(PROMPT, ["", ""])
    settings = [{"temperature": 0}, {"temperature": 0, "top_k": 1}]
    rows = sweep(Unigram(), prompts, len(CONTINUATIONS[0]), settings, sampler=Script(), progress=False)
    assert [{k: r[k] for k in s} for r, s in zip(rows, settings)] == settings
    for row in rows:
        assert row["texts"] == CONTINUATIONS
        assert (row["repetition_%"], row["self_perplexity"]) == (50.0, pytest.approx(10.0, rel=1e-5))


def test_text_windows_start_at_lines_that_begin_with_a_letter():
    text = "\n12 no\nab cd\nef gh\nx y\n  no\nzz"  # starts: "ab", "ef", "x " (a one-letter word); "zz" too short
    windows = text_windows(text, 3, 3, generator=torch.Generator().manual_seed(0))
    assert sorted(decode(w) for w in windows) == ["ab ", "ef ", "x y"]
    with pytest.raises(ValueError, match="has only 3 line starts with 3 characters after them, need n=4"):
        text_windows(text, 4, 3)


def test_text_windows_leave_one_character_after_the_window_and_follow_the_generator():
    # "\ncd" at the end has room for a window of 2 but none for the character after it
    assert [decode(w) for w in text_windows("\nab.\ncd", 1, 2)] == ["ab"]
    text = "".join(f"\n{c}{c}." for c in "abcdef")  # six line starts
    windows = text_windows(text, 6, 2, generator=torch.Generator().manual_seed(0))
    order = torch.randperm(6, generator=torch.Generator().manual_seed(0)).tolist()  # the generator's order
    assert [decode(w) for w in windows] == [2 * "abcdef"[i] for i in order]


def test_format_table_aligns_columns_and_blanks_missing_values():
    table = format_table([{"name": "greedy", "ppl": 1.23456}, {"name": "T=1", "ppl": None}], ["name", "ppl"])
    assert table.splitlines() == ["  name   ppl", "------  ----", "greedy  1.23", "   T=1      "]


class Uniform:
    """Equal logits for every character: greedy picks character 0 ("\\n"), sampling draws from the generator."""

    vocab_size = len(TEXT_VOCAB)

    def __call__(self, ids):  # (B, T) -> (B, V)
        return torch.zeros(ids.shape[0], self.vocab_size)


def test_sweep_passes_each_setting_and_the_generator_to_generate():
    prompts = ids_of(PROMPT, ["", ""])
    greedy, sampled = sweep(Unigram(), prompts, 6, [{"temperature": 0}, {"temperature": 1.0}], sampler=Uniform(),
                            generator=torch.Generator().manual_seed(3), progress=False)
    assert greedy["texts"] == ["\n" * 6, "\n" * 6]
    g = torch.Generator().manual_seed(3)
    generate(Uniform(), prompts, 6, temperature=0, generator=g)  # greedy draws nothing from g
    expected = generate(Uniform(), prompts, 6, generator=g)
    assert sampled["texts"] == [decode(row[len(PROMPT):]) for row in expected]


def test_sweep_shows_a_progress_bar_only_when_asked(capsys):
    def run(**kw):
        sweep(Unigram(), ids_of(PROMPT, [""]), 1, [{"temperature": 0}], sampler=Uniform(), **kw)

    run(progress=False)
    assert capsys.readouterr().err == ""
    run()  # progress=True by default
    assert "settings: 100%" in capsys.readouterr().err
