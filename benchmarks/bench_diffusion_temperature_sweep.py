"""Chapter 2's MNIST temperature sweep at a larger size than the quick notebook (notebook 22).

Same protocol as ``notebooks/22_diffusion_temperature_mnist.ipynb``: the shipped
``mnist_uncond``, DDPM ancestral sampling on every (1000/steps)-th level, one common
start x_T and noise sequence for all settings, and for each setting — noise × τ
(temperature T = τ²) and ε̂ ÷ τ (``scale_eps``) — the evaluation classifier's
confidence and class entropy, feature diversity, MNIST-feature FID against as many
real test digits, precision/recall (k = 3), and sharpness.  Prints one table.

    OMP_NUM_THREADS=1 python benchmarks/bench_diffusion_temperature_sweep.py --n 256 --steps 50
"""
from __future__ import annotations

import argparse
import time

import torch

from tempguide import config, pretrained
from tempguide.data import load_mnist
from tempguide.diffusion import ddpm_alpha_bars, sample_ddpm, scale_eps
from tempguide.metrics import image
from tempguide.metrics.precision_recall import precision_recall


@torch.no_grad()
def evaluate(clf, images, real_feats):
    probs = clf(images).softmax(1)
    q = torch.bincount(probs.argmax(1), minlength=10).double() / len(images)
    feats = image.features(clf, images)
    precision, recall = precision_recall(real_feats, feats)
    return {"confidence": probs.max(1).values.mean().item(),
            "class entropy": -(q[q > 0] * q[q > 0].log2()).sum().item() + 0.0,
            "diversity": image.mean_pairwise_distance(feats), "FID": image.fid_from_features(feats, real_feats),
            "precision": precision, "recall": recall, "sharpness": image.sharpness(images).mean().item()}


@torch.no_grad()
def main(n: int, steps: int, taus: list[float]) -> None:
    generator = config.seed_everything(0)
    unet, clf = pretrained.load("mnist_uncond", device="cpu"), pretrained.load("mnist_classifier", device="cpu")
    real, _ = load_mnist("test", source="subset", verbose=False)
    real = real[torch.randperm(len(real), generator=generator)[: 2 * n]]
    real_feats = image.features(clf, real[:n])
    alpha_bars = torch.cat([ddpm_alpha_bars()[:: 1000 // steps].flip(0), torch.ones(1, dtype=torch.float64)])
    settings = [("τ = 1 (model)", unet, 1.0)]
    for tau in taus:
        settings += [(f"noise × {tau:.2f}", unet, tau**2), (f"ε ÷ {tau:.2f}", scale_eps(unet, tau), 1.0)]
    x_T = torch.randn(n, 1, 28, 28, generator=generator)
    rows = {}
    for name, net, temperature in settings:
        start = time.perf_counter()
        x = sample_ddpm(net, x_T, alpha_bars, temperature=temperature, generator=torch.Generator().manual_seed(1))
        rows[name] = evaluate(clf, x.clamp(-1, 1), real_feats)
        print(f"  {name}: {time.perf_counter() - start:.0f} s", flush=True)
    rows["real digits"] = evaluate(clf, real[n:], real_feats)
    print(f"\nmnist_uncond, {n} images per setting, {steps} DDPM steps; "
          f"FID floor (real vs real, {n} each) {image.fid_floor(clf, real, generator=generator):.2f}")
    cols = list(rows["real digits"])
    print(f"{'setting':<15}" + "".join(f"{c:>14}" for c in cols))
    for name, m in rows.items():
        print(f"{name:<15}" + "".join(f"{m[c]:14.3f}" for c in cols))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--taus", type=float, nargs="+", default=[0.9, 0.8, 0.7, 0.6])
    args = parser.parse_args()
    main(args.n, args.steps, args.taus)
