"""SR3 against bicubic and an MSE regression network, MNIST 14×14 and 7×7 → 28×28 (book: chapter 6, SR3).

``--n`` test digits y (a random subset, seed 0) are downsampled by a factor f,
x = down(y, f) (f×f means), and brought back to 28×28 by

- nearest: each pixel copied into its f×f block (consistent by construction),
- bicubic: ``cascade.up`` (SR3's conditioning input, Saharia et al. 2021's baseline),
- regression: the SR3 network trained with MSE, one call
  (``mnist_sr_regression``, ``mnist_sr_regression_x4``),
- SR3: ``--k`` DDPM samples per input on ``--steps`` levels: at f = 2 ``mnist_sr3`` (trained
  with noise-conditioning augmentation, run at s = ``--s``) and ``mnist_sr3_noaug`` (s = 0);
  at f = 4 ``mnist_sr3_x4`` (no augmentation, s = 0).

Columns (every output clamped to [−1, 1]):

- consistency: RMS of down(out) − x (0: the output downsamples back to its input);
- MSE to the truth y and PSNR = 10 log₁₀(2²/MSE) (pixels in [−1, 1]; — for the truth itself);
- diversity: mean pairwise RMS pixel distance between the k samples of one input (0 for a
  deterministic method), averaged over inputs;
- sharpness: mean variance of the Laplacian;
- accuracy: the evaluation classifier's accuracy on the outputs (scoring only, never a guide);
- FID of the outputs (first sample per input) against ``--n`` *other* real test digits; the
  truth row is the floor (real against real at the same size).

Writes book/results/sr3_mnist.{json,md} (``tempguide.metrics.tables.save_table``).
The same inputs y and the same generator seed serve every method and factor.

    OMP_NUM_THREADS=1 python benchmarks/bench_sr3.py --n 200 --k 4 --steps 50
"""
from __future__ import annotations

import argparse
import datetime
import math
import sys
import time
from pathlib import Path

import torch

from tempguide import pretrained
from tempguide.cascade import consistency, down, regress, sample_sr3, up, up_nearest
from tempguide.cascade.sr3 import S_SAMPLE
from tempguide.data import load_mnist
from tempguide.metrics import image
from tempguide.metrics.tables import save_table

ROOT = Path(__file__).resolve().parents[1]
NAME = "sr3_mnist"
COLUMNS = ["f", "method", "consistency", "MSE to truth", "PSNR (dB)", "diversity", "sharpness", "accuracy", "FID"]
CLAIM = ("Saharia, Ho et al. 2021 (seed 002: 'a super-resolution diffusion model as a conditional model for pairs "
         "(x, y) with x a downsampling of y'): SR3's samples are sharp and varied where a regression network "
         "trained with MSE returns one blurred average; the regression wins on PSNR/SSIM, SR3 on sample "
         "quality (fool rate, FID) and stays consistent with its input.")


def row(method, out, y, x, labels, clf, ref_feats, k=1):
    """The table's columns for outputs ``out`` (k·n, 1, 28, 28), sample j of input i at index j·n + i."""
    n = len(y)
    out = out.clamp(-1, 1)
    first = out[:n]
    mse = (first - y).pow(2).mean().item()
    if k > 1:
        per_input = out.view(k, n, -1).transpose(0, 1)  # (n, k, 784)
        d = torch.cdist(per_input.double(), per_input.double()) / math.sqrt(784)  # RMS pixel distance
        diversity = (d.sum(dim=(1, 2)) / (k * (k - 1))).mean().item()
    else:
        diversity = 0.0
    psnr = 10 * math.log10(4 / mse) if mse > 0 else None
    return [28 // x.shape[-1], method, consistency(first, x).mean().item(), mse, psnr, diversity,
            image.sharpness(first).mean().item(), image.accuracy(clf, out, labels.repeat(k)),
            image.fid_from_features(image.features(clf, first), ref_feats)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--k", type=int, default=4, help="SR3 samples per input")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--s", type=float, default=S_SAMPLE, help="augmentation level at sampling (mnist_sr3)")
    parser.add_argument("--directory", type=Path, default=None, help="checkpoint directory (default: the package's)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    clf = pretrained.load("mnist_classifier", device="cpu")  # the judge: scoring only
    images, labels = load_mnist("test", source="subset", verbose=False)
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    y, c = images[perm[:args.n]], labels[perm[:args.n]]
    ref_feats = image.features(clf, images[perm[args.n:2 * args.n]])  # other real digits, for FID
    rows = [["—", *row("truth (real digits; FID = floor)", y, y, down(y), c, clf, ref_feats)[1:]]]
    settings = {2: ("mnist_sr_regression", [("mnist_sr3", args.s, f"SR3 (augmentation, s = {args.s:g})"),
                                            ("mnist_sr3_noaug", 0.0, "SR3 (no augmentation, s = 0)")]),
                4: ("mnist_sr_regression_x4", [("mnist_sr3_x4", 0.0, "SR3 (no augmentation, s = 0)")])}
    for f, (regression, samplers) in settings.items():
        x = down(y, f)
        rows += [row("nearest", up_nearest(x), y, x, c, clf, ref_feats), row("bicubic", up(x), y, x, c, clf, ref_feats)]
        with torch.no_grad():
            reg = pretrained.load(regression, device="cpu", directory=args.directory)
            rows.append(row("regression (MSE)", regress(reg, x, c), y, x, c, clf, ref_feats))
        for name, s, label in samplers:
            net = pretrained.load(name, device="cpu", directory=args.directory)
            start = time.perf_counter()
            g = torch.Generator().manual_seed(1)
            out = torch.cat([sample_sr3(net, x, labels=c, s=s, n_steps=args.steps, generator=g)
                             for _ in range(args.k)])
            rows.append(row(label, out, y, x, c, clf, ref_feats, k=args.k))
            print(f"f = {f}, {label}: {time.perf_counter() - start:.0f} s", flush=True)
    meta = {"command": "OMP_NUM_THREADS=1 python benchmarks/bench_sr3.py " + " ".join(sys.argv[1:] if argv is None
                                                                                     else argv),
            "n": args.n, "k": args.k, "steps": args.steps, "s": args.s, "seed": 0,
            "date": datetime.date.today().isoformat(), "claim": CLAIM,
            "judge": "mnist_classifier (evaluation only)"}
    path = save_table(NAME, COLUMNS, rows, meta=meta, directory=ROOT / "book" / "results")
    print(path.read_text())


if __name__ == "__main__":
    main()
