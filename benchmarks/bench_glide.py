"""GLIDE at MNIST scale: CLIP guidance against classifier-free guidance on text (book: "GLIDE").

Ten captions, one per digit: for each digit its most frequent full caption among the
4,000 training digits (``glide.frequent_captions``).  For each caption ``--n`` samples by
DDPM ancestral sampling on ``--steps`` strided levels, every setting from the same
x_T and noise sequence (generator seed ``--seed``):

- CLIP guidance, γ in ``--gammas``: an unconditional ε-network guided by the noise-aware
  ``clip_noisy`` (``glide.clip_guided_eps``), twice: on ``mnist_uncond`` (2,500 training
  steps) and on the ∅ branch of ``mnist_text_cond`` itself (the same network and training
  as the CFG arm, so the comparison of the two guidances is not a comparison of trainings);
  the unguided ``mnist_uncond`` for reference;
- CFG on text, w in ``--ws``: ``mnist_text_cond`` on C_T(caption) of the frozen ``clip``
  (``glide.text_cfg_eps``; w = 1 is the conditional model, one call per step).

Judged by ``glide.caption_report``: caption-match (digit by the evaluation classifier,
size / thickness / slant by the measurers of ``tempguide.captions``, and all four),
FID against 10·n real test digits beside its floor, diversity per caption.
Writes book/results/glide.{json,md}.

    OMP_NUM_THREADS=1 python benchmarks/bench_glide.py --n 10 --steps 25

The seed's claim (GLIDE, Nichol et al. 2022, via McAllester's lecture): "the
classifier-free model taking raw text as input is superior to the CLIP-guided model".
The training steps of ``mnist_uncond`` and ``mnist_text_cond`` are read from the manifest into the
table's meta ("training_steps"), so the table says which models it measured.
"""
from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import torch

from tempguide import glide, pretrained
from tempguide.clip import all_captions
from tempguide.metrics.guided import real_reference
from tempguide.metrics.tables import save_table
from tempguide.train.evaluate import ddpm_samples

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["method", "weight", "match_all", "match_digit", "match_size", "match_thickness", "match_slant",
           "fid", "fid_floor", "diversity_per_caption", "seconds"]
CLAIM = "GLIDE: the classifier-free model taking raw text as input is superior to the CLIP-guided model"


def run(name: str, eps_fn, k: torch.Tensor, args, judge, reference) -> list:
    start = time.perf_counter()
    samples = ddpm_samples(eps_fn, len(k), labels=k, n_steps=args.steps,
                           generator=torch.Generator().manual_seed(args.seed), device="cpu")
    seconds = time.perf_counter() - start
    r = glide.caption_report(judge, samples, k, reference)
    return [r["match_all"], r["match_digit"], r["match_size"], r["match_thickness"], r["match_slant"],
            r["fid"], r["fid_floor"], r["diversity_per_caption"], round(seconds)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10, help="samples per caption")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--gammas", type=float, nargs="+", default=[3.0, 10.0])
    parser.add_argument("--ws", type=float, nargs="+", default=[1.0, 3.0, 6.0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--name", default="glide", help="results table name in book/results")
    args = parser.parse_args(argv)

    judge = pretrained.load("mnist_classifier", device="cpu")
    uncond, text_net = pretrained.load("mnist_uncond", device="cpu"), pretrained.load("mnist_text_cond", device="cpu")
    clip, noisy_clip = pretrained.load("clip", device="cpu"), pretrained.load("clip_noisy", device="cpu")
    k = glide.frequent_captions().repeat_interleave(args.n)                       # (10·n,) caption indices
    reference = real_reference(judge, min(len(k), 500), generator=torch.Generator().manual_seed(0))
    command = (f"OMP_NUM_THREADS=1 python benchmarks/bench_glide.py --n {args.n} --steps {args.steps} "
               f"--gammas {' '.join(f'{g:g}' for g in args.gammas)} --ws {' '.join(f'{w:g}' for w in args.ws)} "
               f"--seed {args.seed}")
    meta = {"command": command,
            "captions": [all_captions()[i] for i in glide.frequent_captions().tolist()], "n_per_caption": args.n,
            "ddpm_steps": args.steps, "seed": args.seed, "date": datetime.date.today().isoformat(),
            "claim": CLAIM, "judges": "digit: mnist_classifier; size, thickness, slant: tempguide.captions",
            "training_steps": {name: pretrained.info(name)["steps"] for name in ("mnist_uncond", "mnist_text_cond")}}
    rows = []
    null = lambda x, t, E=None: text_net(x, t, None)  # noqa: E731  mnist_text_cond's ∅ branch, as an unconditional net
    settings = [("unguided mnist_uncond", 0.0, lambda: (lambda x, t, labels=None: uncond(x, t)))]
    settings += [("CLIP guidance on mnist_uncond (γ)", g, lambda g=g: glide.clip_guided_eps(uncond, noisy_clip, g))
                 for g in args.gammas]
    settings += [("CLIP guidance on mnist_text_cond's ∅ (γ)", g,
                  lambda g=g: glide.clip_guided_eps(null, noisy_clip, g)) for g in args.gammas]
    settings += [("text CFG (w)", w, lambda w=w: glide.text_cfg_eps(text_net, clip, w)) for w in args.ws]
    for method, weight, make in settings:
        rows.append([method, weight, *run(method, make(), k, args, judge, reference)])
        print(rows[-1], flush=True)
        save_table(args.name, COLUMNS, [[round(v, 3) if isinstance(v, float) else v for v in r] for r in rows],
                   meta=meta, directory=ROOT / "book" / "results")
    best = {m: max((r for r in rows if r[0] == m), key=lambda r: r[2]) for m in {r[0] for r in rows}}
    print("\n| method | weight | match_all | fid | diversity |\n|---|---|---|---|---|")
    for m, r in sorted(best.items()):
        print(f"| best {m} | {r[1]:g} | {r[2]:.3f} | {r[7]:.1f} | {r[9]:.3f} |")


if __name__ == "__main__":
    main()
