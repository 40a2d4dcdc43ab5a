"""The Markovian VAE's three modes on char_gpt: sampling, temperature, guidance on logits
(notebook 50; book: "The Markovian-VAE generalization", language models).

``--n`` random windows of the validation text (each starting at a line that begins with a
letter) are split into a ``--prompt``-character prompt and the real continuation.  For every
setting, ``--new`` characters are generated after each prompt with

    generate_guided_lm(KVCached(char_gpt), prompts, new, w=w, rule=rule, beta=beta, generator=seed 1)

(the unconditional branch sees the prompt's last character + the continuation; at w = 1 the
CFG rule is chapter 1's sampler, at w = 1 and β ≠ 1 its temperature T = 1/β).  Measured:

- prompt PMI (bits/char): (1/L) Σ_j log₂ p(c_j | prompt, c_<j) − log₂ p(c_j | ∅, c_<j) under
  char_gpt — how much more the prompt explains the continuation than the continuation alone;
  the quantity CFG multiplies by w, so it must rise with w if guidance does what it says;
- prompt 5-grams − chance (%): the share of the continuation's character 5-grams inside words
  found in its own prompt minus the mean share found in the other prompts — model-free, 0 in
  expectation for text that ignores its prompt (``prompt_ngram_excess``);
- both with the standard error of the mean over prompts;
- chapter 1's text metrics (``tempguide.lm.sweep.decoding_metrics``): repetition %,
  distinct-2, self-perplexity (per character, under char_gpt given the prompt).

The real continuations (``human``) go through the same measures.  Saved with
``tempguide.metrics.tables.save_table`` as ``book/results/mvae_lm_guidance.{json,md}``.

    OMP_NUM_THREADS=1 python benchmarks/bench_mvae_lm.py --n 200
"""
from __future__ import annotations

import argparse
import datetime
import math
import sys
import time
from pathlib import Path

import torch

from tempguide import config, data, pretrained
from tempguide.lm.sweep import decoding_metrics, text_windows
from tempguide.metrics.tables import save_table
from tempguide.models.char_gpt import KVCached
from tempguide.mvae.lm import generate_guided_lm, prompt_ngram_excess, prompt_pmi

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["setting", "rule", "w", "beta", "prompt PMI (bits/char)", "± s.e.", "prompt 5-grams − chance (%)", "± s.e.",
           "repetition %", "distinct-2", "self-perplexity"]
# (label, rule, w, beta): the seed's three modes, the CFG sweep, the seed's formula as written, contrastive decoding
SETTINGS = [
    ("unadjusted (chapter 1 sampling)", "cfg", 1.0, 1.0),
    ("temperature-adjusted, T = 0.7", "cfg", 1.0, 1 / 0.7),
    ("CFG, no prompt (w = 0)", "cfg", 0.0, 1.0),
    ("CFG", "cfg", 1.5, 1.0),
    ("CFG", "cfg", 2.0, 1.0),
    ("CFG", "cfg", 3.0, 1.0),
    ("CFG", "cfg", 5.0, 1.0),
    ("the seed's ℓ_c − ℓ_∅ (no base term)", "seed", None, 1.0),
    ("contrastive, α = 0.1", "contrastive", None, 1.0),
]


def measure(model, prompts, continuations) -> list:
    prompt_texts = [data.decode(p) for p in prompts]
    texts = [data.decode(c) for c in continuations]
    pmi = prompt_pmi(model, prompts, continuations).double()
    excess = 100 * prompt_ngram_excess(prompt_texts, texts)
    n = len(texts)
    metrics = decoding_metrics(model, torch.cat([prompts, continuations], 1), prompts.shape[1])
    return [float(pmi.mean()), float(pmi.std() / n ** 0.5), float(excess.mean()), float(excess.std() / n ** 0.5),
            metrics["repetition_%"], metrics["distinct_2"], metrics["self_perplexity"]]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200,
                        help="number of prompts (the validation text has 202 line starts with 256 characters after)")
    parser.add_argument("--prompt", type=int, default=128, help="prompt length (characters)")
    parser.add_argument("--new", type=int, default=128, help="characters generated per prompt")
    parser.add_argument("--no-save", action="store_true", help="print only")
    args = parser.parse_args(argv)
    config.seed_everything(0)
    torch.set_num_threads(1)
    model = pretrained.load("char_gpt", device="cpu")
    windows = text_windows(data.load_text().val, args.n, args.prompt + args.new, generator=torch.Generator().manual_seed(0))
    prompts, real = windows[:, :args.prompt], windows[:, args.prompt:]
    rows = []
    for label, rule, w, beta in SETTINGS:
        start = time.perf_counter()
        ids = generate_guided_lm(KVCached(model), prompts, args.new, w=1.0 if w is None else w, rule=rule,
                                 beta=beta, model_null=KVCached(model), generator=torch.Generator().manual_seed(1))
        rows.append([label, rule, w, round(beta, 3), *measure(model, prompts, ids[:, args.prompt:])])
        print(f"{label} w={w}: {time.perf_counter() - start:.0f} s", rows[-1][4:], file=sys.stderr, flush=True)
    rows.append(["human (the real continuation)", None, None, None, *measure(model, prompts, real)])
    meta = {"command": "python benchmarks/bench_mvae_lm.py " + " ".join(argv or sys.argv[1:]),
            "model": "char_gpt", "n_prompts": args.n, "prompt_chars": args.prompt, "new_chars": args.new,
            "text": "validation windows of tempguide.data.load_text(), seed 0; sampling seed 1",
            "null_prefix": "the prompt's last character", "date": datetime.date.today().isoformat()}
    if not args.no_save:
        save_table("mvae_lm_guidance", COLUMNS, rows, meta=meta, directory=ROOT / "book" / "results")
    print("| " + " | ".join(COLUMNS) + " |\n" + "|---" * len(COLUMNS) + "|")
    for row in rows:
        print("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |")


if __name__ == "__main__":
    main()
