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

The sampler is DDPM's ancestral sampler (Ho et al. 2020, Algorithm 2) on
``n_steps`` levels evenly strided through the 1000 training levels:
``tempguide.diffusion.ddpm.sample_ddpm``.
"""
from __future__ import annotations

import argparse
import sys

import torch
from tqdm.auto import tqdm

from .. import config, pretrained
from ..data import load_mnist
from ..diffusion.ddpm import sample_ddpm
from ..diffusion.schedules import ddpm_alpha_bars
from ..metrics import image


@torch.no_grad()
def ddpm_samples(eps_net, n: int, *, labels: torch.Tensor | None = None, n_steps: int = 250,
                 generator: torch.Generator | None = None, batch_size: int = 100,
                 progress: bool = True, device: torch.device | str | None = None) -> torch.Tensor:
    """n images (n, 1, 28, 28) by DDPM ancestral sampling on ``n_steps`` strided levels (module docstring).

    ``eps_net`` is a network or any ε-function (e.g. a guided one from ``tempguide.guidance``);
    ``device`` defaults to the network's, or ``config.device()`` for a plain function.
    """
    if device is None:
        device = next(eps_net.parameters()).device if isinstance(eps_net, torch.nn.Module) else config.device()
    idx = torch.linspace(999, 0, n_steps).round().long()
    alpha_bars = torch.cat([ddpm_alpha_bars()[idx], torch.ones(1, dtype=torch.float64)])  # noisiest first, then 1
    out = []
    for start in tqdm(range(0, n, batch_size), desc="sample", disable=not progress):
        m = min(batch_size, n - start)
        c = None if labels is None else labels[start:start + m].to(device)
        x = torch.randn(m, 1, 28, 28, generator=generator).to(device)  # x_T ~ N(0, I)
        out.append(sample_ddpm(eps_net, x, alpha_bars.to(device), labels=c, generator=generator).cpu())
    return torch.cat(out)


def sample_metrics(eps_net, classifier, *, n: int = 500, n_steps: int = 250, seed: int = 0,
                   progress: bool = True) -> dict[str, float]:
    """The metrics listed in the module docstring for one ε-network."""
    g = torch.Generator().manual_seed(seed)
    conditional = eps_net.config.num_classes is not None
    labels = torch.arange(n) % 10 if conditional else None
    samples = ddpm_samples(eps_net, n, labels=labels, n_steps=n_steps, generator=g, progress=progress)
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
    parser.add_argument("name", choices=["mnist_uncond", "mnist_cond", "mnist_cond_p05", "mnist_cond_p50",
                                         "mnist_cond_blurry", "mnist_cond_weak"])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--steps", type=int, default=250)
    args = parser.parse_args(argv)
    evaluate_checkpoint(args.name, n=args.n, n_steps=args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
