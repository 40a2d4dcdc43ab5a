"""Decoding sweeps on the shipped char_gpt, with more samples than notebook 11 (book chapter 1).

    .venv/bin/python benchmarks/bench_lm_sweep.py [--samples 128] [--length 200] [--seed 0]

Prints one markdown table per sweep (temperature, top-p, top-k, min-p): repetition
% (Holtzman et al. 2020's definition, words as tokens), distinct-2 (word bigrams)
and self-perplexity (per character, under the untempered model), with the
"human" row (the real continuations of the same prompts) in every table, and
Holtzman et al.'s Table 1 for comparison.
"""
from __future__ import annotations

import argparse
import time

import torch

from tempguide import pretrained
from tempguide.data import load_text
from tempguide.lm.sweep import decoding_metrics, sweep, text_windows
from tempguide.models.char_gpt import KVCached

PROMPT_LENGTH = 32
SWEEPS = {
    "temperature": [0.0, 0.25, 0.5, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0],
    "top_p": [0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0],
    "top_k": [1, 2, 3, 5, 10, 20, 40, 96],
    "min_p": [0.9, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.0],
}
HOLTZMAN = """Holtzman et al. 2020, Table 1 (GPT-2 Large, BPE tokens, 200-token continuations):
| method | perplexity | repetition % |
|---|---|---|
| human | 12.38 | 0.28 |
| greedy | 1.50 | 73.66 |
| pure sampling | 22.73 | 0.22 |
| sampling t=0.9 | 10.25 | 0.66 |
| top-k=40 | 6.88 | 0.78 |
| nucleus p=0.95 | 13.13 | 0.36 |"""


def markdown(rows, key):
    lines = [f"| {key} | repetition % | distinct-2 | self-perplexity |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.get(key, r.get('setting'))} | {r['repetition_%']:.1f} | {r['distinct_2']:.3f} | "
                     f"{r['self_perplexity']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(1)
    model = pretrained.load("char_gpt", device="cpu")
    entry = pretrained.info("char_gpt")
    fast = KVCached(model)
    generator = torch.Generator().manual_seed(args.seed)
    windows = text_windows(load_text().val, args.samples, PROMPT_LENGTH + args.length, generator=generator)
    prompts = windows[:, :PROMPT_LENGTH]
    human = {"setting": "human", **decoding_metrics(model, windows, PROMPT_LENGTH)}
    print(f"char_gpt: {entry['parameters']:,} parameters, validation {entry['metrics']['val_bpc']:.3f} bits/char; "
          f"{args.samples} prompts of {PROMPT_LENGTH} characters, {args.length} new characters each, "
          f"seed {args.seed}\n")
    start = time.perf_counter()
    for key, values in SWEEPS.items():
        rows = sweep(model, prompts, args.length, [{key: v} for v in values], generator=generator,
                     sampler=fast, progress=False)
        print(f"### {key} sweep\n")
        print(markdown(rows + [human], key))
        print()
    print(HOLTZMAN)
    print(f"\n({time.perf_counter() - start:.0f} s for the sweeps, one CPU thread)")


if __name__ == "__main__":
    main()
