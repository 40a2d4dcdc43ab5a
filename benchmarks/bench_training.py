"""Training speed of every shipped model on this machine (book: "Toolkit: training").

    OMP_NUM_THREADS=1 python benchmarks/bench_training.py [--steps 20] [--batch 64]

Times ``--steps`` training steps (after two warm-up steps) of each recipe's
model and objective at one batch size, and prints steps/s and the implied time
for the shipped number of steps.  Set OMP_NUM_THREADS to compare thread counts.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from tempguide import toy
from tempguide.data import load_mnist
from tempguide.models import MLP, MnistClassifier, NoisyClassifier, UNet
from tempguide.train import recipes

SHIPPED_STEPS = {"mnist_classifier": 2000, "mnist_uncond": recipes.DIFFUSION_STEPS,
                 "mnist_cond": recipes.DIFFUSION_STEPS, "mnist_noisy_classifier": 2000, "toy_2d": 4000}


def objectives(batch: int):
    """name -> (model, loss(model, generator)) with the recipes' objectives on one fixed data batch."""
    images, labels = load_mnist("train", source="subset", verbose=False)
    y, c = images[:batch], labels[:batch]
    points = toy.mixture_2d().sample(batch).float()
    pc = torch.zeros(batch, dtype=torch.long)

    def noisy_ce(m, g):
        t = recipes.sample_noise_levels(batch, g)
        return F.cross_entropy(m(recipes.noisy(y, t, g)[0], t), c)

    return {
        "mnist_classifier": (MnistClassifier(recipes.CLASSIFIER_CONFIG),
                             lambda m, g: F.cross_entropy(m(recipes.augment(y, g)), c)),
        "mnist_uncond": (UNet(recipes.UNCOND_CONFIG), lambda m, g: recipes.eps_loss(m, y, None, g)),
        "mnist_cond": (UNet(recipes.COND_CONFIG), lambda m, g: recipes.eps_loss(m, y, c, g, p_uncond=0.15)),
        "mnist_noisy_classifier": (NoisyClassifier(recipes.NOISY_CLASSIFIER_CONFIG), noisy_ce),
        "toy_2d": (MLP(recipes.TOY_CONFIG), lambda m, g: recipes.eps_loss(m, points, pc, g, p_uncond=0.15)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), batch {args.batch}, {args.steps} steps")
    print(f"| model | parameters | steps/s | shipped steps | minutes for them |\n|---|---|---|---|---|")
    for name, (model, loss_fn) in objectives(args.batch).items():
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        g = torch.Generator().manual_seed(0)
        for i in range(args.steps + 2):
            if i == 2:
                start = time.perf_counter()
            loss = loss_fn(model, g)
            opt.zero_grad()
            loss.backward()
            opt.step()
        rate = args.steps / (time.perf_counter() - start)
        params = sum(p.numel() for p in model.parameters())
        print(f"| {name} | {params:,} | {rate:.2f} | {SHIPPED_STEPS[name]} | {SHIPPED_STEPS[name] / rate / 60:.1f} |")


if __name__ == "__main__":
    main()
