"""DALL·E 2 (unCLIP) at MNIST scale against text CFG (book: "DALL·E 2 (unCLIP)").

The ten captions of ``bench_glide`` (each digit's most frequent caption), ``--n``
samples per caption, DDPM on ``--steps`` strided levels, the same x_T and noise
(generator seed ``--seed``) for every setting:

- unCLIP, decoder weight w in ``--ws``: e ~ N(A·C_T(c) + b, Σ) by ``unclip_prior``
  (projected onto the unit sphere), then ``unclip_decoder`` under CFG on e (``unclip.sample_unclip``);
- text CFG, w in ``--text-ws``: ``mnist_text_cond`` as in ``bench_glide``.

Judged by ``glide.caption_report`` (caption-match, FID with its floor, diversity per caption).
Variations: for ``--sources`` test digits (the first of each of ``--sources`` digits spread over 0–9), ``--n`` decodings of the one embedding C_I(y)
(``unclip.variations``): how often they keep the source's digit and attributes, and their diversity.
Writes book/results/unclip.{json,md} and book/results/unclip_variations.{json,md}.

    OMP_NUM_THREADS=1 python benchmarks/bench_unclip.py --n 10 --steps 25

The seed's claim (DALL·E 2, Ramesh et al. 2022, via McAllester's lecture):
"CLIP-guided DALLE-2 is similar in quality to self-guided GLIDE but is more diverse".
"""
from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import torch

from tempguide import glide, pretrained, unclip
from tempguide.clip import all_captions, caption_index
from tempguide.data import load_mnist
from tempguide.metrics import image
from tempguide.metrics.guided import real_reference
from tempguide.metrics.tables import save_table
from tempguide.train.evaluate import ddpm_samples

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["method", "weight", "match_all", "match_digit", "match_size", "match_thickness", "match_slant",
           "fid", "fid_floor", "diversity_per_caption", "seconds"]
VAR_COLUMNS = ["source caption", "match_all", "match_digit", "match_size", "match_thickness", "match_slant",
               "diversity"]
CLAIM = "DALL·E 2: similar in quality to (self-guided) GLIDE but more diverse"


def report_row(samples, k, judge, reference, seconds):
    r = glide.caption_report(judge, samples, k, reference)
    return [r["match_all"], r["match_digit"], r["match_size"], r["match_thickness"], r["match_slant"],
            r["fid"], r["fid_floor"], r["diversity_per_caption"], round(seconds)]


def rounded(rows):
    return [[round(v, 3) if isinstance(v, float) else v for v in r] for r in rows]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10, help="samples per caption (and variations per source)")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--ws", type=float, nargs="+", default=[1.0, 3.0])
    parser.add_argument("--text-ws", type=float, nargs="+", default=[3.0])
    parser.add_argument("--sources", type=int, default=4, help="test digits to make variations of (2 to 10)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--name", default="unclip")
    args = parser.parse_args(argv)

    judge = pretrained.load("mnist_classifier", device="cpu")
    clip, prior = pretrained.load("clip", device="cpu"), pretrained.load("unclip_prior", device="cpu")
    decoder, text_net = pretrained.load("unclip_decoder", device="cpu"), pretrained.load("mnist_text_cond", device="cpu")
    k = glide.frequent_captions().repeat_interleave(args.n)
    reference = real_reference(judge, min(len(k), 500), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        text = clip.encode_text(all_captions())[k]                            # C_T of each sample's caption
    command = (f"OMP_NUM_THREADS=1 python benchmarks/bench_unclip.py --n {args.n} --steps {args.steps} "
               f"--ws {' '.join(f'{w:g}' for w in args.ws)} --text-ws {' '.join(f'{w:g}' for w in args.text_ws)} "
               f"--sources {args.sources} --seed {args.seed}")
    meta = {"command": command,
            "captions": [all_captions()[i] for i in glide.frequent_captions().tolist()], "n_per_caption": args.n,
            "ddpm_steps": args.steps, "seed": args.seed, "date": datetime.date.today().isoformat(), "claim": CLAIM,
            "judges": "digit: mnist_classifier; size, thickness, slant: tempguide.captions",
            "models": "unclip_prior (linear-Gaussian), unclip_decoder and mnist_text_cond (same UNet)",
            "training_steps": {name: pretrained.info(name)["steps"] for name in ("unclip_decoder", "mnist_text_cond")}}
    rows = []
    for w in args.ws:
        g = torch.Generator().manual_seed(args.seed)
        start = time.perf_counter()
        samples = unclip.sample_unclip(prior, decoder, text, w, n_steps=args.steps, generator=g)
        rows.append(["unCLIP (decoder w)", w, *report_row(samples, k, judge, reference, time.perf_counter() - start)])
        print(rows[-1], flush=True)
        save_table(args.name, COLUMNS, rounded(rows), meta=meta, directory=ROOT / "book" / "results")
    for w in args.text_ws:
        start = time.perf_counter()
        samples = ddpm_samples(glide.text_cfg_eps(text_net, clip, w), len(k), labels=k, n_steps=args.steps,
                               generator=torch.Generator().manual_seed(args.seed), device="cpu")
        rows.append(["text CFG (w)", w, *report_row(samples, k, judge, reference, time.perf_counter() - start)])
        print(rows[-1], flush=True)
        save_table(args.name, COLUMNS, rounded(rows), meta=meta, directory=ROOT / "book" / "results")

    # variations of single test digits, decoded at the middle decoder weight
    images, labels = load_mnist("test", source="subset", verbose=False)
    w_var = max(args.ws)
    var_rows = []
    wanted = torch.linspace(0, 9, args.sources).round().long()               # digits spread over 0–9
    for i in [int((labels == d).nonzero()[0]) for d in wanted]:              # the first test digit of each
        y, src = images[i:i + 1], caption_index(labels[i:i + 1], images[i:i + 1])
        v = unclip.variations(clip, decoder, y, args.n, w_var, n_steps=args.steps,
                              generator=torch.Generator().manual_seed(args.seed))
        m = glide.caption_match(judge, v, src.expand(args.n))
        var_rows.append([all_captions()[int(src)], m["match_all"], m["match_digit"], m["match_size"],
                         m["match_thickness"], m["match_slant"],
                         image.mean_pairwise_distance(image.features(judge, v.clamp(-1, 1)))])
        print(var_rows[-1], flush=True)
    save_table(args.name + "_variations", VAR_COLUMNS, rounded(var_rows),
               meta={**meta, "decoder_w": w_var, "sources": f"the first test digit of each of the digits {wanted.tolist()}",
                     "variations_per_source": args.n}, directory=ROOT / "book" / "results")


if __name__ == "__main__":
    main()
