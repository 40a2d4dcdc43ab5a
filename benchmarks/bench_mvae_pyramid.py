"""The image pyramid on MNIST: every generation mode, the σ choice, and the blur (book: "The image pyramid").

Model: ``mnist_pyramid`` (``tempguide.mvae.pyramid``: average-pooling encoder
28 → 14 → 7 → 4 → 2 → 1 → ∅, six class-conditional Gaussian decoders with the null
label ∅ = 10, σ_k fitted by maximum likelihood).  ``--n`` digits per setting, classes
``arange(n) % 10``, the same generator seed for every setting; scored by
``tempguide.metrics.guided.conditional_report`` with the evaluation classifier
``mnist_classifier`` (never a guide) against ``n`` real test digits (its own FID floor).
Four tables, saved into ``book/results/`` with ``save_table``:

- ``mvae_pyramid_sigmas``: per decoder, the data's scale beside the fitted σ_k (train)
  and the test residual: "unit noise on pixels in [−1, 1] destroys an image", measured;
- ``mvae_pyramid_modes``: unadjusted, temperature-adjusted (β ∈ {2, 4, 16, ∞}), the
  seed's guidance-adjusted step (x_good = class, x_bad = ∅), and CFG (w ∈ {2, 3}), with
  fitted and unit σ; cold diffusion with the pooling degradation (``tempguide.mvae.cold``,
  Bansal et al. 2022 Algorithms 1 and 2) from a class-Gaussian 4×4 or 2×2 code; beside them ``mnist_cond`` (chapter 2's diffusion model, DDPM,
  ``--steps`` steps, w = 1) and the real digits;
- ``mvae_pyramid_blur``: given a real digit's level-j code, the same-class training
  digits with the nearest codes (an empirical p(y | z_j, x)): how far apart they are,
  how sharp each is against their mean, and the decoders' means from the same code;
- ``mvae_pyramid_gray``: at the coordinates a decoder predicts as gray, where the
  true values lie, against the Gaussian the decoder assumes.

    OMP_NUM_THREADS=1 python benchmarks/bench_mvae_pyramid.py --n 300 --steps 50

Cost: one pyramid setting is a few seconds; the diffusion row is n × steps UNet
evaluations (≈ 2–3 min of one idle core at 300 × 50).
"""
from __future__ import annotations

import argparse
import datetime
import math
import time
from pathlib import Path

import torch

from tempguide import config, pretrained
from tempguide.data import load_mnist
from tempguide.metrics import image
from tempguide.metrics.guided import conditional_report, real_reference
from tempguide.metrics.tables import save_table
from tempguide.mvae import generate_cfg, generate_guided, generate_tempered
from tempguide.mvae.cold import class_gaussian_codes, sample_cold
from tempguide.mvae.pyramid import SIZES, encode, fit_level_sigmas
from tempguide.mvae.pyramid_blur import code_neighbours, decode_means, gray_pixel_modes, pairwise_rms
from tempguide.train.evaluate import ddpm_samples

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "book" / "results"  # --results changes it
METRICS = ["fidelity", "fid", "fid_floor", "precision", "recall", "diversity", "sharpness"]
MODE_COLUMNS = ["mode", "σ", "β", "w", "fidelity", "FID", "FID floor", "precision", "recall", "diversity",
                "sharpness"]
INF = math.inf


def beta_cell(beta: float) -> str:
    return "∞" if math.isinf(beta) else f"{beta:g}"


def settings():
    """(mode, σ name, β, w): the rows of the modes table, in order."""
    rows = [("unadjusted", "fitted", 1.0, None)]
    rows += [("temperature", "fitted", b, None) for b in (2.0, 4.0, 16.0, INF)]
    rows += [("unadjusted, image level without noise", "fitted", 1.0, None)]
    rows += [("unadjusted", "unit", 1.0, None)] + [("temperature", "unit", b, None) for b in (4.0, 16.0)]
    rows += [("guided (seed)", "fitted", b, None) for b in (1.0, INF)]
    rows += [("CFG", "fitted", b, w) for w in (2.0, 3.0) for b in (1.0, 4.0, INF)]
    rows += [(f"cold diffusion Alg. {a}, start {s}×{s} from the class Gaussian", "—", INF, None)
             for s in (4, 2) for a in (2, 1)]
    return rows


@torch.no_grad()
def sample(model, mode: str, sigma_name: str, beta: float, w, labels, seed: int) -> torch.Tensor:
    sigmas = [1.0] * len(SIZES) if sigma_name == "unit" else model.sigmas.tolist()
    if mode == "unadjusted, image level without noise":
        sigmas = sigmas[:-1] + [0.0]                     # output the last decoder's mean, as DDPM's last step does
    g, decoders, n = torch.Generator().manual_seed(seed), model.decoders(), len(labels)
    if mode.startswith("cold diffusion"):                 # Bansal et al. 2022: the start is the only randomness
        size = int(mode.split("start ")[1].split("×")[0])
        train_x, train_y = load_mnist("train", source="subset", verbose=False)
        z_start = class_gaussian_codes(train_x, train_y, SIZES.index(size), labels, generator=g)
        return sample_cold(model, z_start, labels, improved="Alg. 2" in mode)
    if mode == "guided (seed)":
        return generate_guided(decoders, sigmas, labels, None, beta, n=n, generator=g)
    if mode == "CFG":
        return generate_cfg(decoders, sigmas, labels, None, w, beta, n=n, generator=g)
    return generate_tempered(decoders, sigmas, labels, beta, n=n, generator=g)   # β = 1: unadjusted


def metric_cells(report: dict) -> list:
    return [round(report[k], 4) for k in METRICS]


@torch.no_grad()
def sigma_table(model, meta):
    train_x, train_y = load_mnist("train", source="subset", verbose=False)
    test_x, test_y = load_mnist("test", source="subset", verbose=False)
    test_rms = fit_level_sigmas(model, test_x, test_y)
    codes = encode(train_x)[::-1]                        # z_5 (1×1) first: decoder k's target
    rows = []
    for k, (z, s, r) in enumerate(zip(codes, model.sigmas.tolist(), test_rms.tolist())):
        size, scale = SIZES[-1 - k], z.std().item()
        source = "∅" if k == 0 else f"{SIZES[-k]}×{SIZES[-k]}"
        rows.append([f"{source} → {size}×{size}", size * size, round(scale, 4), round(s, 4), round(r, 4),
                     round(1.0 / scale, 3), round(s / scale, 3)])
    save_table("mvae_pyramid_sigmas", ["decoder", "d", "std of z (data)", "σ fitted (train)",
                                       "RMS residual (test)", "unit σ / std", "fitted σ / std"],
               rows, meta=meta, directory=RESULTS)
    return rows


@torch.no_grad()
def blur_tables(model, n: int, k: int, meta):
    train_x, train_y = load_mnist("train", source="subset", verbose=False)
    test_x, test_y = load_mnist("test", source="subset", verbose=False)
    perm = torch.randperm(len(test_x), generator=torch.Generator().manual_seed(0))[:n]
    query, labels = test_x[perm], test_y[perm]
    real_sharp = image.sharpness(query).mean().item()
    rows = []
    for level in (1, 2, 3):
        idx, code_d = code_neighbours(query, labels, train_x, train_y, level, k)
        neigh = train_x[idx]                                         # (n, k, 1, 28, 28)
        mean_img = neigh.mean(1)
        decoded = decode_means(model, encode(query)[level], labels, level)
        size = SIZES[level]
        rows.append([f"z_{level} ({size}×{size})", round(code_d.mean().item(), 4),
                     round(pairwise_rms(neigh).mean().item(), 4),
                     round(image.sharpness(neigh.flatten(0, 1)).mean().item(), 4),
                     round(image.sharpness(mean_img).mean().item(), 4),
                     round(image.sharpness(decoded.clamp(-1, 1)).mean().item(), 4),
                     round((decoded - query).pow(2).mean().sqrt().item(), 4)])
    groups = torch.stack([train_x[train_y == c][torch.randperm(int((train_y == c).sum()),
                                                              generator=torch.Generator().manual_seed(c))[:k]]
                          for c in labels.tolist()])              # k random training digits of each query's class
    rows.append(["the class only (random same-class digits)", None, round(pairwise_rms(groups).mean().item(), 4),
                 round(image.sharpness(groups.flatten(0, 1)).mean().item(), 4),
                 round(image.sharpness(groups.mean(1)).mean().item(), 4), None, None])
    rows.append(["real digits (the queries)", None, None, round(real_sharp, 4), None, None, None])
    save_table("mvae_pyramid_blur", ["given", f"code RMS distance of the {k} neighbours",
                                     "image RMS distance between neighbours", "sharpness: neighbours",
                                     "sharpness: their mean", "sharpness: decoder means from the code",
                                     "RMSE: decoder means vs the digit"],
               rows, meta={**meta, "neighbours": k, "queries": n}, directory=RESULTS)

    gray_rows = []
    levels = encode(train_x)[::-1]
    for dec in (3, 4, 5):                                            # outputs 7×7, 14×14, 28×28
        z_hat = model(dec, levels[dec - 1], train_y)
        m = gray_pixel_modes(levels[dec], z_hat)
        size = SIZES[-1 - dec]
        gray_rows.append([f"{SIZES[-dec]}×{SIZES[-dec]} → {size}×{size}", m["count"], round(m["near"], 4),
                          round(m["gauss_near"], 4), round(m["far"], 4), round(m["gauss_far"], 4)])
    save_table("mvae_pyramid_gray", ["decoder", "gray predictions (−0.25 ≤ ẑ ≤ 0.25)", "true within 0.25 of ẑ",
                                     "Gaussian: within 0.25", "true farther than 0.5", "Gaussian: farther than 0.5"],
               gray_rows, meta={**meta, "data": "training split, true labels, true coarser code"},
               directory=RESULTS)
    return rows, gray_rows


@torch.no_grad()
def main(n: int, steps: int, neighbours: int, skip_diffusion: bool, directory: Path | None) -> None:
    torch.manual_seed(0)
    clf = pretrained.load("mnist_classifier", device="cpu")            # the judge, never a guide
    model = pretrained.load("mnist_pyramid", device="cpu", directory=directory)
    reference = real_reference(clf, n, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(n) % 10
    meta = {"command": f"OMP_NUM_THREADS=1 python benchmarks/bench_mvae_pyramid.py --n {n} --steps {steps}",
            "n": n, "seed": 1, "date": datetime.date.today().isoformat(), "model": "mnist_pyramid",
            "judge": "mnist_classifier", "torch": torch.__version__}
    print(f"{n} digits per setting; {config.describe()}, threads {torch.get_num_threads()}", flush=True)
    print(sigma_table(model, meta))

    rows = []
    for mode, sigma_name, beta, w in settings():
        start = time.perf_counter()
        x = sample(model, mode, sigma_name, beta, w, labels, seed=1)
        report = conditional_report(clf, x, labels, reference)
        rows.append([mode, sigma_name, beta_cell(beta), w, *metric_cells(report)])
        print(rows[-1], f"({time.perf_counter() - start:.1f} s)", flush=True)
    if not skip_diffusion:
        start = time.perf_counter()
        net = pretrained.load("mnist_cond", device="cpu")
        x = ddpm_samples(net, n, labels=labels, n_steps=steps, generator=torch.Generator().manual_seed(1),
                         progress=False)
        report = conditional_report(clf, x, labels, reference)
        rows.append([f"diffusion mnist_cond, DDPM {steps} steps", "—", "1", 1.0, *metric_cells(report)])
        print(rows[-1], f"({time.perf_counter() - start:.1f} s)", flush=True)
    rows.append(["real digits", "—", "—", None, None, round(reference.fid_floor, 4), round(reference.fid_floor, 4),
                 round(reference.precision_floor, 4), round(reference.recall_floor, 4),
                 round(reference.diversity, 4), round(reference.sharpness, 4)])
    save_table("mvae_pyramid_modes", MODE_COLUMNS, rows, meta={**meta, "ddpm_steps": steps},
               directory=RESULTS)

    blur, gray = blur_tables(model, n, neighbours, meta)
    for row in blur + gray:
        print(row)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="digits per setting, a multiple of 10, at most 500")
    parser.add_argument("--steps", type=int, default=50, help="DDPM steps of the diffusion row")
    parser.add_argument("--neighbours", type=int, default=8)
    parser.add_argument("--skip-diffusion", action="store_true")
    parser.add_argument("--directory", type=Path, default=None, help="checkpoint directory (default: the package's)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the tables are saved")
    args = parser.parse_args()
    RESULTS = args.results
    if args.n % 10 or not 10 <= args.n <= 500:
        raise ValueError(f"--n must be a multiple of 10 in [10, 500], got {args.n}")
    main(args.n, args.steps, args.neighbours, args.skip_diffusion, args.directory)
