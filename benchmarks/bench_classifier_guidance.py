"""Classifier guidance on MNIST: the γ sweep at full size (book: "Classifier guidance"; notebook 31).

Dhariwal & Nichol (2021, Table 4) guide an unconditional ImageNet model with a
noise-aware classifier and find: as the scale grows, precision (and IS) rise,
recall falls, and FID is best at an intermediate scale.  This benchmark runs the
same sweep on the course's ``mnist_uncond`` with DDPM ancestral sampling (``--steps``
levels strided through the 1000 training levels, ``tempguide.train.evaluate.ddpm_samples``),
``--n`` samples per setting for the balanced labels c = arange(n) % 10, one seed for
every setting (same x_T, same noise), and scores every setting with the *judge*
``mnist_classifier`` (``tempguide.metrics.guided.conditional_report``).  Rows:

- ``noise-aware γ``: Algorithm 2, ``eps_classifier_guided(mnist_uncond,
  noise_aware_log_prob(mnist_noisy_classifier), γ)``; γ = 0 is the unguided model;
- ``clean γ``: the same with ``clean_log_prob(mnist_clean_classifier)``, a guide that has
  only seen clean digits — the seeds' "adversarial gradient";
- ``x̂₀ clean γ`` / ``x̂₀ noise-aware γ``: ``classifier_guided_x0`` on the denoiser of
  ``mnist_uncond`` (gradient through the UNet at ŷ = D(z, t)), with the clean guide or the
  noise-aware guide at t_min, sampled by the same DDPM sampler via ``eps_from_denoiser``;
- ``mnist_cond``: the conditional model, unguided (w = 1), for reference.

Columns: γ, fidelity (judge accuracy on the intended classes), FID and its real-vs-real
floor at the same n, precision, recall (k = 3), per-class diversity, sharpness; the last
row is real test digits.  A second table shows what each guide's gradient does to a clean
digit: twenty normalised ascent steps on ln p(c + 1 | y), then the class the guide itself and
the judge assign (an adversarial gradient fools its own classifier but not the judge).

Cost on one idle core: ~10-15 ms per image and step, unguided or with the classifier's
backward (the classifier is small beside the UNet), about twice that for the x̂₀ variant
(backward through the UNet); n = 200 at 50 steps is 2-4 minutes per row on an idle core.
Rows print as they finish.  Run with one thread (the machine is shared):

    OMP_NUM_THREADS=1 python benchmarks/bench_classifier_guidance.py --n 200 --steps 50 \
        --gammas 0 1 2 4 8 16 32 --clean-gammas 4 16 --x0-gammas 4 16
"""
from __future__ import annotations

import argparse
import time

import torch

from tempguide import pretrained
from tempguide.data import load_mnist
from tempguide.diffusion.adapters import denoiser_from_eps, eps_from_denoiser
from tempguide.guidance import (classifier_gradient, classifier_guided_x0, clean_log_prob, eps_classifier_guided,
                                noise_aware_log_prob)
from tempguide.metrics.guided import conditional_report, real_reference
from tempguide.train.evaluate import ddpm_samples

#: the guides; the judge ``mnist_classifier`` is deliberately not among them (tests/test_guidance_judge.py)
GUIDES = {"noise-aware": "mnist_noisy_classifier", "clean": "mnist_clean_classifier"}
T_MIN = 1e-4  # the smallest training noise level (DDPM's t_1): the x̂₀ variant's classifier sees ŷ as clean


class _EpsModule(torch.nn.Module):
    """A guided ε-function as an ``nn.Module`` (``ddpm_samples`` reads the device from the parameters)."""

    def __init__(self, eps, *models):
        super().__init__()
        self.eps, self.models = eps, torch.nn.ModuleList(models)

    def forward(self, x, t, labels=None):
        return self.eps(x, t, labels)


def guide_log_prob(guide: str, clf):
    """``log_prob(z, t)`` of a guide: noise-aware at the true t, or the clean guide shown z as if clean."""
    return noise_aware_log_prob(clf) if guide == "noise-aware" else clean_log_prob(clf, T_MIN)


def guided_eps(setting: tuple[str, str, float]):
    """The ε-network (labels = the classes c) of one setting ``(kind, guide, γ)``; loads only its own models.

    kind ``"zt"`` (Algorithm 2 on z_t), ``"x0"`` (the x̂₀ variant) or ``"cond"`` (``mnist_cond``, unguided).
    """
    kind, guide, gamma = setting
    if kind == "cond":
        return pretrained.load("mnist_cond", device="cpu")
    unet = pretrained.load("mnist_uncond", device="cpu")
    clf = pretrained.load(GUIDES[guide], device="cpu")
    if kind == "zt":
        return _EpsModule(eps_classifier_guided(unet, guide_log_prob(guide, clf), gamma), unet, clf)
    if kind == "x0":
        log_prob = guide_log_prob(guide, clf)
        log_prob_clean = lambda y: log_prob(y, torch.tensor(T_MIN))  # noqa: E731  (ŷ is shown as clean: t = t_min)
        denoiser = denoiser_from_eps(unet)
        return _EpsModule(lambda x, t, labels: eps_from_denoiser(classifier_guided_x0(
            denoiser, log_prob_clean, labels, gamma))(x, t), unet, clf)
    raise ValueError(f"kind must be one of 'zt', 'x0', 'cond', got {kind!r}")


def sample_setting(setting, n: int, steps: int, *, seed: int = 0, progress: bool = True) -> torch.Tensor:
    """n samples (n, 1, 28, 28) of one setting for the labels arange(n) % 10, same seed for every setting."""
    labels = torch.arange(n) % 10
    return ddpm_samples(guided_eps(setting), n, labels=labels, n_steps=steps,
                        generator=torch.Generator().manual_seed(seed), progress=progress)


def gradient_ascent(guide: str, images: torch.Tensor, labels: torch.Tensor, *, t: float, size: float = 0.5,
                    iters: int = 20) -> torch.Tensor:
    """What a guide's gradient does to a digit: ``iters`` normalised ascent steps on ln p_t(c | z) at noise t."""
    clf = pretrained.load(GUIDES[guide], device="cpu")
    log_prob = guide_log_prob(guide, clf)
    z = images.clone()
    for _ in range(iters):
        g = classifier_gradient(log_prob, z, t, labels)
        z = z + size * g / g.flatten(1).norm(dim=1).clamp_min(1e-12)[:, None, None, None]
    return z


COLUMNS = ["γ", "fidelity", "fid", "fid_floor", "precision", "recall", "diversity", "sharpness", "seconds"]


def row(name: str, r: dict, columns: list[str]) -> str:
    return f"| {name} | " + " | ".join("" if r.get(c) is None else (f"{r[c]:.3f}" if isinstance(r[c], float)
                                                                    else str(r[c])) for c in columns) + " |"


def main(n: int, steps: int, gammas: list[float], clean_gammas: list[float], x0_gammas: list[float], *,
         cond: bool = True, ascent: bool = True) -> None:
    torch.set_num_threads(1)
    judge = pretrained.load("mnist_classifier", device="cpu")   # scoring only
    reference = real_reference(judge, n, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(n) % 10
    settings = {f"noise-aware γ = {g:g}": ("zt", "noise-aware", g) for g in gammas}
    if cond:
        settings["mnist_cond (w = 1)"] = ("cond", "", 0.0)
    settings |= {f"clean γ = {g:g}": ("zt", "clean", g) for g in clean_gammas}
    settings |= {f"x̂₀ clean γ = {g:g}": ("x0", "clean", g) for g in x0_gammas}
    settings |= {f"x̂₀ noise-aware γ = {g:g}": ("x0", "noise-aware", g) for g in x0_gammas}
    print(f"mnist_uncond guided by a classifier: {n} samples per setting (labels arange(n) % 10), {steps} DDPM "
          f"steps, one seed for all settings; judge: mnist_classifier; rows appear as they finish\n", flush=True)
    print("| setting | " + " | ".join(COLUMNS) + " |\n|---|" + "---:|" * len(COLUMNS), flush=True)
    print(row("real digits", {"fid": reference.fid_floor, "fid_floor": reference.fid_floor,
                              "precision": reference.precision_floor, "recall": reference.recall_floor,
                              "diversity": reference.diversity, "sharpness": reference.sharpness}, COLUMNS), flush=True)
    for name, setting in settings.items():
        start = time.perf_counter()
        samples = sample_setting(setting, n, steps, progress=False)
        r = {"γ": None if setting[0] == "cond" else setting[2], **conditional_report(judge, samples, labels, reference)}
        r["seconds"] = time.perf_counter() - start
        print(row(name, r, COLUMNS), flush=True)
    if not ascent:
        return
    # What the gradients do to clean digits: ascent towards the class c + 1 (mod 10), judged.
    real, real_labels = load_mnist("test", source="subset", verbose=False)
    pick = torch.randperm(len(real), generator=torch.Generator().manual_seed(2))[:n]
    x, y_labels = real[pick], real_labels[pick]
    c = (y_labels + 1) % 10
    columns = ["guide says c + 1", "judge says c + 1", "judge keeps the digit", "‖Δz‖ per image"]
    print(f"\nTwenty normalised gradient-ascent steps (size 0.5) on the guide's ln p(c + 1 | y) from {n} real test "
          f"digits y (shown as clean, t = {T_MIN:g}), judged by the guide itself and by the judge\n")
    print("| guide | " + " | ".join(columns) + " |\n|---|" + "---:|" * len(columns))
    for guide in GUIDES:
        z = gradient_ascent(guide, x, c, t=T_MIN)
        with torch.no_grad():
            judged = judge(z.clamp(-1, 1)).argmax(1)
            own = guide_log_prob(guide, pretrained.load(GUIDES[guide], device="cpu"))(z, torch.tensor(T_MIN)).argmax(1)
        print(row(f"{guide} guide", {
            "guide says c + 1": (own == c).double().mean().item(),
            "judge says c + 1": (judged == c).double().mean().item(),
            "judge keeps the digit": (judged == y_labels).double().mean().item(),
            "‖Δz‖ per image": (z - x).flatten(1).norm(dim=1).mean().item()}, columns), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="samples per setting (a multiple of 10)")
    parser.add_argument("--steps", type=int, default=50, help="DDPM steps")
    parser.add_argument("--gammas", type=float, nargs="+", default=[0.0, 1.0, 2.0, 4.0, 8.0])
    parser.add_argument("--clean-gammas", type=float, nargs="*", default=[1.0, 4.0])
    parser.add_argument("--x0-gammas", type=float, nargs="*", default=[4.0])
    parser.add_argument("--no-cond", action="store_true", help="skip the mnist_cond reference row")
    parser.add_argument("--no-ascent", action="store_true", help="skip the gradient-ascent table")
    args = parser.parse_args()
    if args.n < 10 or args.n % 10:
        parser.error(f"--n must be a positive multiple of 10 (balanced classes), got {args.n}")
    main(args.n, args.steps, args.gammas, args.clean_gammas, args.x0_gammas, cond=not args.no_cond,
         ascent=not args.no_ascent)
