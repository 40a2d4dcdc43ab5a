"""Sample quality of the shipped diffusion models (book: "Toolkit: checkpoints").

``python -m tempguide.train.evaluate NAME [--n 500] [--steps 250]`` samples
``n`` digits from the checkpoint ``NAME`` (the conditional model at w = 1, i.e.
no guidance, ``n/10`` per class), and records in the manifest:

* ``sample_accuracy`` (conditional model only): fidelity under the evaluation
  classifier; ``sample_class_fractions_max`` (unconditional): the largest
  fraction of samples assigned to one class (0.1 for a balanced model);
* ``sample_fid``: MNIST-feature FID of the samples against the 1,000-image
  test split, beside ``fid_floor_real``: the FID of ``n`` real *training*
  images against the same test split (what a perfect generator scores);
* ``sample_sharpness``: mean variance of the Laplacian (real test images beside it).

The sampler is DDPM's ancestral sampler (Ho et al. 2020, Algorithm 2) on a
strided subset of the 1000 training levels, written in the book's variable t:
given z at level t and D = D(z, t), the next point at level s < t is drawn from
the exact posterior of the forward process z_t = z_s + √(t − s)·ε,

    z_s = D + (s/t)(z − D) + √(s(t − s)/t) · ε,       D(z, t) = z − √t · ε̂(z/√(1+t), t),

and the last step (s = 0) returns D.  (The diffusion chapter's samplers live in
``tempguide.diffusion``; this small copy keeps the toolkit's check independent.)
"""
from __future__ import annotations

import argparse
import math
import sys

import torch
from tqdm.auto import tqdm

from .. import pretrained
from ..data import load_mnist
from ..diffusion.schedules import ddpm_ts
from ..metrics import image


@torch.no_grad()
def ancestral_sample(eps_net, n: int, *, labels: torch.Tensor | None = None, n_steps: int = 250,
                     generator: torch.Generator | None = None, batch_size: int = 250,
                     progress: bool = True) -> torch.Tensor:
    """n images (n, 1, 28, 28) by strided DDPM ancestral sampling (module docstring)."""
    device = next(eps_net.parameters()).device
    levels = ddpm_ts()
    idx = torch.linspace(len(levels) - 1, 0, n_steps).round().long()
    ts = torch.cat([levels[idx], torch.zeros(1, dtype=torch.float64)])  # t_max > … > t_1 > 0
    out = []
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        c = None if labels is None else labels[start:start + m].to(device)
        z = math.sqrt(1 + ts[0].item()) * torch.randn(m, 1, 28, 28, generator=generator).to(device)
        for t, s in tqdm(list(zip(ts[:-1].tolist(), ts[1:].tolist())), desc="sample", disable=not progress,
                         mininterval=2.0):
            D = z - math.sqrt(t) * eps_net(z / math.sqrt(1 + t), torch.tensor(t, device=device), c)
            noise = torch.randn(z.shape, generator=generator).to(device)
            z = D + (s / t) * (z - D) + math.sqrt(s * (t - s) / t) * noise if s > 0 else D
        out.append(z.cpu())
    return torch.cat(out)


def sample_metrics(eps_net, classifier, *, n: int = 500, n_steps: int = 250, seed: int = 0,
                   progress: bool = True) -> dict[str, float]:
    """The metrics listed in the module docstring for one ε-network."""
    g = torch.Generator().manual_seed(seed)
    conditional = eps_net.config.num_classes is not None
    labels = torch.arange(n) % 10 if conditional else None
    samples = ancestral_sample(eps_net, n, labels=labels, n_steps=n_steps, generator=g, progress=progress)
    test_x, _ = load_mnist("test", source="subset", verbose=False)
    train_x, _ = load_mnist("train", source="subset", verbose=False)
    real = train_x[torch.randperm(len(train_x), generator=g)[:n]]
    metrics = {
        "sample_n": n, "sample_steps": n_steps,
        "sample_fid": image.fid(classifier, samples.clamp(-1, 1), test_x),
        "fid_floor_real": image.fid(classifier, real, test_x),
        "sample_sharpness": image.sharpness(samples.clamp(-1, 1)).mean().item(),
        "real_sharpness": image.sharpness(test_x).mean().item(),
        "sample_diversity": image.diversity(classifier, samples.clamp(-1, 1)),
        "real_diversity": image.diversity(classifier, test_x),
    }
    if conditional:
        metrics["sample_accuracy"] = image.accuracy(classifier, samples.clamp(-1, 1), labels)
    else:
        counts = torch.bincount(image.predict(classifier, samples.clamp(-1, 1)), minlength=10)
        metrics["sample_class_fractions_max"] = (counts.max() / n).item()
    return metrics


def evaluate_checkpoint(name: str, *, n: int = 500, n_steps: int = 250, directory=None) -> dict[str, float]:
    """Sample ``name``, score it with the shipped ``mnist_classifier``, record the metrics in the manifest."""
    if "mnist_classifier" not in pretrained.available(directory):
        print("mnist_classifier is not trained yet; run `python -m tempguide.train mnist_classifier`, then "
              f"`python -m tempguide.train.evaluate {name}`.", file=sys.stderr)
        return {}
    metrics = sample_metrics(pretrained.load(name, directory=directory),
                             pretrained.load("mnist_classifier", directory=directory), n=n, n_steps=n_steps)
    metrics = {k: round(v, 5) if isinstance(v, float) else v for k, v in metrics.items()}
    pretrained.update_metrics(name, metrics, directory=directory)
    print(f"{name}: {metrics}")
    return metrics


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tempguide.train.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("name", choices=["mnist_uncond", "mnist_cond"])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--steps", type=int, default=250)
    args = parser.parse_args(argv)
    evaluate_checkpoint(args.name, n=args.n, n_steps=args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
