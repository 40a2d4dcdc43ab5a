"""Guidance towards a requested ink E on MNIST, with seed 001's zero null and with a null flag
(notebook 43; book: "Guidance on a continuous condition").

Two ε-networks conditioned on E = standardised ink (``tempguide.attributes``; E = 0 is the
average training digit, ±1 one standard deviation), trained alike except for the
unconditional query: ``mnist_ink_zeronull`` answers it as E = 0 (seed 001),
``mnist_ink_nullflag`` with a separate learnt null embedding.  Every setting samples
``--n`` digits by DDPM ancestral sampling on ``--steps`` strided levels,

    ddpm_samples(attribute_cfg_eps(net, w), n, labels=full(n, E), n_steps=steps, generator=seed 1),

so every setting starts from the **same** x_T and draws the same noise sequence.  The
ink of each sample is measured and standardised with the model's own training
statistics.  Quality is scored by the evaluation classifier ``mnist_classifier`` (the
judge, never a guide) against ``n`` real test digits (``real_reference``): FID beside its
floor, precision (Kynkäänniemi et al. 2019), the mean pairwise feature distance
(diversity) and the entropy of the judge's digit classes (bits; log₂ 10 = 3.32 for
ten equally common digits).  Tables saved into book/results/:

- ``attribute_toy``: the exact laws of the guided reverse SDE on the jointly Gaussian toy
  (``guidance.attribute_exact``), both nulls, closed forms by quadrature;

- ``attribute_unconditional``: the unconditional query (E = NaN) of each model: its
  measured E (mean, std) beside the real test digits', and, for comparison, the null
  label of the class-conditional ``mnist_cond``.  The zero null returns the E = 0
  conditional, so its std shrinks;
- ``attribute_guidance``: requested E × w: measured E mean, |mean − E|, std, quality.
  For the zero-null model guidance towards E = 0 is ε̂_0 + w·(ε̂_0 − ε̂_0) = ε̂_0 whatever
  w (tests/test_guidance_attribute.py), so those rows are sampled once and are the
  unconditional query's; at w = 1 the guided network is the conditional one and is
  called once per step.

    OMP_NUM_THREADS=1 python benchmarks/bench_attribute_guidance.py --n 100 --steps 50 --ws 1 2 3 --out /tmp/attr.json

Cost: the ink UNet is the course UNet, so about 2.5 ms of one idle core per image and
unguided step and 4.5 ms per guided one (benchmarks/bench_guidance_cost.py).  Measured
here on a shared 2-core machine under load 4–13: 22–221 s per unguided and 77–549 s per
guided setting of 100 digits × 50 steps.  Each run adds its settings to ``--out`` (same
n and steps), and the tables are rewritten after every setting.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
import time
from pathlib import Path

import torch

from tempguide import attributes, config, pretrained
from tempguide.data import load_mnist
from tempguide.guidance.attribute import attribute_cfg_eps
from tempguide.guidance.attribute_exact import JointGaussian
from tempguide.guidance.gaussian_pair import cfg_law
from tempguide.metrics import image
from tempguide.metrics.guided import real_reference
from tempguide.metrics.precision_recall import precision_recall
from tempguide.metrics.tables import save_table
from tempguide.train.evaluate import ddpm_samples

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"mnist_ink_zeronull": "zero null (seed 001)", "mnist_ink_nullflag": "null flag"}
NAN = float("nan")


CLASS_NULL = ("mnist_cond", 10)   # for comparison: a class-conditional network's null label


def measured_E(net, x: torch.Tensor) -> torch.Tensor:
    """The standardised ink of images x, with the ink network's training statistics."""
    return attributes.standardise(attributes.ink(x.clamp(-1, 1)), net.config.attribute_mean,
                                  net.config.attribute_std)


def class_entropy(clf, x: torch.Tensor) -> float:
    """Entropy (bits) of the judge's digit classes among the samples."""
    p = torch.bincount(image.predict(clf, x), minlength=10).double() / len(x)
    return float(-(p[p > 0] * p[p > 0].log2()).sum()) + 0.0   # + 0.0: no −0.0 for one class


def quality(clf, x: torch.Tensor, reference) -> dict:
    x = x.clamp(-1, 1)
    feats = image.features(clf, x)
    precision, _ = precision_recall(reference.features, feats)
    return {"fid": image.fid_from_features(feats, reference.features), "precision": precision,
            "diversity": image.mean_pairwise_distance(feats), "classes": class_entropy(clf, x)}


def one_setting(net, E: float, w: float, n: int, steps: int, clf, reference, *, ink_net=None,
                labels=None) -> dict:
    start = time.perf_counter()
    eps = net if (w == 1 or math.isnan(E)) else attribute_cfg_eps(net, w)   # w = 1 / the null: one call per step
    labels = torch.full((n,), E) if labels is None else labels
    x = ddpm_samples(eps, n, labels=labels, n_steps=steps, generator=torch.Generator().manual_seed(1),
                     progress=False, device="cpu")
    e = measured_E(ink_net or net, x)
    row = {"E_mean": e.mean().item(), "E_std": e.std().item(), **quality(clf, x, reference),
           "seconds": time.perf_counter() - start}
    print(f"  E = {E:g}, w = {w:g}: measured E {row['E_mean']:.2f} ± {row['E_std']:.2f}, FID {row['fid']:.1f}, "
          f"precision {row['precision']:.2f}  ({row['seconds']:.0f} s)", flush=True)
    return row


def key(E: float, w: float) -> str:
    return "null" if math.isnan(E) else f"{E:g},{w:g}"


def write_tables(results: dict, real: dict, meta: dict) -> None:
    rows = [["real test digits", real["E_mean"], real["E_std"], real["fid_floor"], real["precision"],
             real["diversity"], real["classes"]]]
    for name, label in MODELS.items():
        r = results.get(name, {}).get("null")
        if r:
            rows.append([label, r["E_mean"], r["E_std"], r["fid"], r["precision"], r["diversity"], r["classes"]])
    r = results.get(CLASS_NULL[0], {}).get("null")
    if r:
        rows.append([f"{CLASS_NULL[0]} (class labels), null label", r["E_mean"], r["E_std"], r["fid"],
                     r["precision"], r["diversity"], r["classes"]])
    save_table("attribute_unconditional", ["unconditional query", "E mean", "E std", "FID", "precision",
                                           "diversity", "classes (bits)"], rows, meta=meta,
               directory=ROOT / "book" / "results")
    rows = []
    for name, label in MODELS.items():
        settings = sorted((tuple(map(float, k.split(","))), r) for k, r in results.get(name, {}).items()
                          if k != "null")
        for (E, w), r in settings:
            rows.append([label, f"{E:g}", f"{w:g}", r["E_mean"], abs(r["E_mean"] - E), r["E_std"], r["fid"],
                         r["precision"], r["diversity"], r["classes"]])
    save_table("attribute_guidance", ["model", "requested E", "w", "E mean", "abs(mean − E)", "E std", "FID",
                                      "precision", "diversity", "classes (bits)"], rows,
               meta={**meta, "fid_floor": real["fid_floor"]}, directory=ROOT / "book" / "results")


def write_toy_table() -> None:
    """The exact laws of CFG towards E = 1.5 on the jointly Gaussian toy (s = 1, ρ = 0.8), reverse SDE."""
    toy, E, rows = JointGaussian(1.0, 0.8), 1.5, []
    for w in (0.0, 1.0, 2.0, 3.0, 4.0):
        laws = [cfg_law(toy.pair(E, null), w, sampler="sde") for null in ("zero", "flag")]
        rows.append([f"{w:g}"] + [v for m, var in laws for v in (m.item() + 0.0, math.sqrt(var))])
    save_table("attribute_toy", ["w", "zero null: mean", "zero null: std", "null flag: mean", "null flag: std"],
               rows, meta={"command": "python benchmarks/bench_attribute_guidance.py (any arguments)",
                           "what": "gaussian_pair.cfg_law(JointGaussian(1.0, 0.8).pair(1.5, null), w, "
                                   "sampler='sde'): t0 = inf to 0, exact (quadrature)"},
               directory=ROOT / "book" / "results")


@torch.no_grad()
def main(n: int, steps: int, Es: list[float], ws: list[float], models: list[str], out: Path) -> None:
    write_toy_table()
    torch.manual_seed(0)
    clf = pretrained.load("mnist_classifier", device="cpu")            # the judge, never a guide
    reference = real_reference(clf, n, generator=torch.Generator().manual_seed(0))
    test_x, _ = load_mnist("test", source="subset", verbose=False)
    results = json.loads(out.read_text()) if out.exists() else {}
    if (results.get("n"), results.get("steps")) != (n, steps):
        results = {"n": n, "steps": steps}
    print(f"{n} digits per setting, {steps} DDPM steps, same x_T and noise for every setting; "
          f"{config.describe()}, threads {torch.get_num_threads()}", flush=True)
    meta = {"command": "python benchmarks/bench_attribute_guidance.py " + " ".join(sys.argv[1:]),
            "note": "rows accumulate in --out over runs at the same n and steps; each row is one setting",
            "n": n, "steps": steps, "seed": 1, "sampler": "DDPM ancestral (train.evaluate.ddpm_samples)",
            "judge": "mnist_classifier", "date": datetime.date.today().isoformat()}
    real = None
    for name in models:
        if name not in pretrained.available():
            print(f"{name}: not in the manifest yet (still training?); skipped", flush=True)
            continue
        net = pretrained.load(name, device="cpu")
        if real is None:                                                 # one real reference for both models
            e = measured_E(net, test_x)                                  # E of all 1,000 real test digits
            real = {"E_mean": e.mean().item(), "E_std": e.std().item(), "fid_floor": reference.fid_floor,
                    "precision": reference.precision_floor,
                    "diversity": image.mean_pairwise_distance(reference.features),
                    "classes": class_entropy(clf, test_x)}
        print(f"{name}:", flush=True)
        res = results.setdefault(name, {})
        for E, w in [(NAN, 1.0)] + [(E, w) for E in Es for w in ws]:
            k = key(E, w)
            if k in res:
                continue
            if name == "mnist_ink_zeronull" and E == 0 and "null" in res:   # ε̂_∅ = ε̂_0: the same samples
                res[k] = dict(res["null"])
            else:
                res[k] = one_setting(net, E, w, n, steps, clf, reference)
            out.write_text(json.dumps(results, indent=1))
            write_tables(results, real, meta)
    name, null_label = CLASS_NULL
    if real is not None and "null" not in results.get(name, {}):
        print(f"{name}, null label {null_label} (for comparison):", flush=True)
        results[name] = {"null": one_setting(pretrained.load(name, device="cpu"), math.nan, 1.0, n, steps, clf,
                                             reference, ink_net=net, labels=torch.full((n,), null_label))}
        out.write_text(json.dumps(results, indent=1))
    if real is not None:
        write_tables(results, real, meta)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="digits per setting, at most 500")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--Es", type=float, nargs="+", default=[-1, 0, 1, 2])
    parser.add_argument("--ws", type=float, nargs="+", default=[1, 2, 3])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_attribute_guidance.json"))
    args = parser.parse_args()
    if not 2 <= args.n <= 500:
        raise ValueError(f"--n must be in [2, 500], got {args.n}")
    main(args.n, args.steps, args.Es, args.ws, args.models, args.out)
