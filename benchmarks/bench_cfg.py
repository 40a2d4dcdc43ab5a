"""Classifier-free guidance on MNIST at a larger size than the quick notebook (notebook 41; book: "Classifier-free guidance").

For every model in ``--models`` and every w in ``--ws``: ``--n`` digits (classes
``arange(n) % 10``) by DDPM ancestral sampling on ``--steps`` strided levels,

    ddpm_samples(cfg_eps(net, w), n, labels=arange(n) % 10, n_steps=steps, generator=seed 1),

so every setting starts from the **same** x_T and draws the same noise sequence.  At
w = 1 the guided network *is* the conditional one (ε̂_u + 1·(ε̂_c − ε̂_u) = ε̂_c), so it
is called once per step instead of on [x; x].  Each sample set is scored by
``tempguide.metrics.guided.conditional_report`` — the evaluation classifier
``mnist_classifier``, never a guide — against ``n`` real test digits
(``real_reference``, its own FID floor).  Printed, as markdown tables:

- per model, the w sweep: fidelity (± binomial s.e.), FID beside its floor, precision,
  recall, per-class diversity, sharpness; the real digits' row last;
- "the conditional model may ignore the condition": fidelity at w = 1 against the best w,
  with the per-class fidelity at both;
- ``mnist_cond_blurry`` (labels 0–9, 10 = "blurry", null 11) is swept twice: guided
  against ∅ (``cfg_eps(net, w)``) and against "blurry" (``cfg_eps(net, w, uncond_label=10)``,
  D_blurry + w·(D_c − D_blurry), McAllester's "this will make the generated image sharper");
- the label-dropout ablation: fidelity and FID against w for every model in the results
  file (``--out``, JSON; each run adds its models and, at the same n and steps, its new w,
  so models trained later and extra weights join the tables).

    OMP_NUM_THREADS=1 python benchmarks/bench_cfg.py --n 500 --steps 50 --models mnist_cond
    OMP_NUM_THREADS=1 python benchmarks/bench_cfg.py --n 500 --ws 1 2 3 4 --models mnist_cond_p05 mnist_cond_p50

Cost: a guided step is one network call at batch 2B (benchmarks/bench_guidance_cost.py),
about 4.5 ms of one core per image and step, so one setting of 500 images × 50 steps
takes about 2 minutes on an idle core.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from tempguide import config, pretrained
from tempguide.guidance import cfg_eps
from tempguide.metrics import image
from tempguide.metrics.guided import conditional_report, real_reference
from tempguide.train.evaluate import ddpm_samples

COLUMNS = ["fidelity", "fid", "fid_floor", "precision", "recall", "diversity", "sharpness"]
BLURRY_MODEL, BLURRY_LABEL = "mnist_cond_blurry", 10
DROPOUT = {"mnist_cond_p05": 0.05, "mnist_cond": 0.15, "mnist_cond_p50": 0.5}


def guided(net, w: float, uncond_label: int | None):
    """cfg_eps(net, w), except at w = 1 where it equals the conditional network itself."""
    if w == 1:
        return net
    return cfg_eps(net, w, uncond_label=uncond_label)


def one_setting(net, w, uncond_label, n, steps, clf, reference, labels) -> dict:
    start = time.perf_counter()
    x = ddpm_samples(guided(net, w, uncond_label), n, labels=labels, n_steps=steps,
                     generator=torch.Generator().manual_seed(1), progress=False)
    report = conditional_report(clf, x, labels, reference)
    report["per_class"] = image.accuracy_per_class(clf, x.clamp(-1, 1), labels).tolist()
    print(f"  w = {w:g}: fidelity {report['fidelity']:.3f}, FID {report['fid']:.2f}, "
          f"sharpness {report['sharpness']:.3f}  ({time.perf_counter() - start:.0f} s)", flush=True)
    return report


def reference_row(reference) -> dict:
    return {"fid_floor": reference.fid_floor, "precision": reference.precision_floor,
            "recall": reference.recall_floor, "diversity": reference.diversity, "sharpness": reference.sharpness}


def print_sweep(title: str, rows: dict, real: dict, n: int) -> None:
    print(f"\n**{title}**\n")
    print("| w | fidelity | ± s.e. | FID | FID floor | precision | recall | diversity | sharpness |")
    print("|---|---|---|---|---|---|---|---|---|")
    for w, r in rows.items():
        se = math.sqrt(r["fidelity"] * (1 - r["fidelity"]) / n)
        print(f"| {float(w):g} | {r['fidelity']:.3f} | {se:.3f} | {r['fid']:.2f} | {r['fid_floor']:.2f} | "
              f"{r['precision']:.3f} | {r['recall']:.3f} | {r['diversity']:.2f} | {r['sharpness']:.3f} |")
    print(f"| real digits | — | — | {real['fid_floor']:.2f} | {real['fid_floor']:.2f} | {real['precision']:.3f} | "
          f"{real['recall']:.3f} | {real['diversity']:.2f} | {real['sharpness']:.3f} |")


def print_ignore(title: str, rows: dict) -> None:
    """Fidelity at w = 1 (the conditional model) against the best w, per class."""
    if "1" not in rows and 1.0 not in rows:
        return
    one = rows.get(1.0, rows.get("1"))
    best_w, best = max(rows.items(), key=lambda kv: kv[1]["fidelity"])
    print(f"\n**{title}: does the conditional model use its condition?** "
          f"w = 1 (no guidance) against the best w = {float(best_w):g}\n")
    print("| | all | " + " | ".join(str(c) for c in range(10)) + " |")
    print("|---|---|" + "---|" * 10)
    for name, r in [("w = 1", one), (f"w = {float(best_w):g}", best)]:
        print(f"| {name} | {r['fidelity']:.3f} | " + " | ".join(f"{a:.2f}" for a in r["per_class"]) + " |")


def print_ablation(results: dict) -> None:
    models = [m for m in DROPOUT if m in results]
    if len(models) < 2:
        return
    ws = sorted({float(w) for m in models for w in results[m]["rows"]})
    print("\n**Label dropout p_uncond: fidelity / FID against w**\n")
    print("| w | " + " | ".join(f"{m} (p = {DROPOUT[m]:g})" for m in models) + " |")
    print("|---|" + "---|" * len(models))
    for w in ws:
        cells = []
        for m in models:
            r = {float(k): v for k, v in results[m]["rows"].items()}.get(w)
            cells.append(f"{r['fidelity']:.3f} / {r['fid']:.2f}" if r else "—")
        print(f"| {w:g} | " + " | ".join(cells) + " |")
    floors = {results[m]["fid_floor"] for m in models}
    print(f"\nFID floor (real vs real, same n): {', '.join(f'{f:.2f}' for f in sorted(floors))}")


@torch.no_grad()
def main(n: int, steps: int, ws: list[float], models: list[str], out: Path | None) -> None:
    torch.manual_seed(0)
    clf = pretrained.load("mnist_classifier", device="cpu")            # the judge, never a guide
    reference = real_reference(clf, n, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(n) % 10
    results = json.loads(out.read_text()) if out is not None and out.exists() else {}
    print(f"{n} digits per setting ({n // 10} per class), {steps} DDPM steps, same x_T and noise for every "
          f"setting; {config.describe()}, threads {torch.get_num_threads()}", flush=True)
    for name in models:
        if name not in pretrained.available():
            print(f"{name}: not in the manifest yet (still training?); skipped")
            continue
        net = pretrained.load(name, device="cpu")
        variants = [(name, None)]
        if name == BLURRY_MODEL:
            variants = [(f"{name}, against ∅", None), (f"{name}, against 'blurry'", BLURRY_LABEL)]
        unguided = None                       # w = 1 is the conditional model whatever u is: sampled once
        for key, u in variants:
            print(f"{key}:", flush=True)
            old = results.get(key, {})
            if (old.get("n"), old.get("steps")) != (n, steps):      # same size: add the new w to the old rows
                results[key] = {"n": n, "steps": steps, "fid_floor": reference.fid_floor,
                                "reference": reference_row(reference), "rows": {}}
            for w in ws:
                if str(w) in results[key]["rows"]:
                    print(f"  w = {w:g}: in {out} already", flush=True)
                    report = results[key]["rows"][str(w)]
                elif w == 1 and unguided is not None:
                    report = unguided
                else:
                    report = one_setting(net, w, u, n, steps, clf, reference, labels)
                unguided = report if w == 1 else unguided
                results[key]["rows"][str(w)] = report
                if out is not None:                            # after every setting: a cut run keeps its rows
                    out.write_text(json.dumps(results, indent=1))
    for key, res in results.items():
        rows = {float(w): r for w, r in sorted(res["rows"].items(), key=lambda kv: float(kv[0]))}
        real = res.get("reference", reference_row(reference))       # the real digits of that run
        print_sweep(f"{key}: {res['n']} digits, {res['steps']} DDPM steps", rows, real, res["n"])
        print_ignore(key, rows)
    print_ablation(results)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="digits per setting, a multiple of 10, at most 500")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--ws", type=float, nargs="+", default=[0, 1, 1.5, 2, 3, 4, 6])
    parser.add_argument("--models", nargs="+", default=["mnist_cond"],
                        choices=["mnist_cond", "mnist_cond_p05", "mnist_cond_p50", BLURRY_MODEL])
    parser.add_argument("--out", type=Path, default=None, help="JSON file the results are added to")
    args = parser.parse_args()
    if args.n % 10 or not 10 <= args.n <= 500:
        raise ValueError(f"--n must be a multiple of 10 in [10, 500], got {args.n}")
    main(args.n, args.steps, args.ws, args.models, args.out)
