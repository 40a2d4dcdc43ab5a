"""What one guided sampler step costs, against an unguided one (book: "Classifier-free guidance", cost).

One DDPM ancestral step (``sample_ddpm`` on two neighbouring levels of a 50-step
grid, mid-schedule) at batch ``--batch`` for each way of guiding:

- unguided conditional: ``mnist_cond`` with the labels c (the reference, ratio 1);
- unguided unconditional: ``mnist_uncond`` (what classifier guidance starts from);
- CFG, one call: ``cfg_eps(mnist_cond, w)`` — the network on [x; x] with labels [c; ∅];
- CFG, two calls: ε̂(x, t, ∅) and ε̂(x, t, c) separately, then the same combination;
- the network alone on a batch of 2B (what the one-call CFG step is made of);
- classifier guidance (Algorithm 2): ``eps_classifier_guided(mnist_uncond,
  noise_aware_log_prob(mnist_noisy_classifier), γ)`` — UNet forward, classifier forward and backward;
- the x̂₀ variant: ``classifier_guided_x0`` on ``mnist_uncond``'s denoiser with a clean-image
  classifier — the backward pass runs through the UNet.

Each setting is timed ``--repeats`` times after ``--warmup`` untimed steps, interleaved in a
shuffled order (so a change of load on the shared machine hits every setting alike), and the median is
reported: CPU time of this process (``time.process_time``; with one thread this is the
compute the step needs, undisturbed by other users of the machine) and wall time.  The
ratio column divides by the unguided conditional step; the least-disturbed run (min CPU) is printed too.  Requirement: CFG (one call)
≤ 2.05 × the unguided step (the ideal is 2: one network evaluation at twice the batch).

    OMP_NUM_THREADS=1 python benchmarks/bench_guidance_cost.py [--batch 64] [--threads 1 2] [--repeats 21]
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import time

import torch

from tempguide import pretrained
from tempguide.diffusion import ddpm_alpha_bars, denoiser_from_eps, eps_from_denoiser, sample_ddpm
from tempguide.guidance import (cfg, cfg_eps, classifier_guided_x0, clean_log_prob, eps_classifier_guided,
                                noise_aware_log_prob)

W, GAMMA = 3.0, 3.0


def settings(batch: int):
    """(name, ε-network, batch it is called with) for every way of taking a step."""
    cond, uncond = pretrained.load("mnist_cond", device="cpu"), pretrained.load("mnist_uncond", device="cpu")
    noisy = pretrained.load("mnist_noisy_classifier", device="cpu")
    clean_name = "mnist_clean_classifier" if "mnist_clean_classifier" in pretrained.available() \
        else "mnist_noisy_classifier"  # same architecture: the cost does not depend on the weights
    clean = pretrained.load(clean_name, device="cpu")
    labels = torch.arange(batch) % 10
    null = cond.config.num_classes

    def two_calls(x, t, c):
        return cfg(cond(x, t, torch.full_like(c, null)), cond(x, t, c), W)    # two network evaluations

    clean_lp = clean_log_prob(clean)                    # log_prob(z, t); classifier_guided_x0 wants log_prob(y)
    x0_guided = eps_from_denoiser(classifier_guided_x0(denoiser_from_eps(uncond), lambda y: clean_lp(y, None),
                                                       labels, GAMMA))
    return [
        ("unguided conditional (mnist_cond)", cond, batch),
        ("unguided unconditional (mnist_uncond)", lambda x, t, c: uncond(x, t), batch),
        (f"CFG, one call on [x; x] (cfg_eps, w = {W:g})", cfg_eps(cond, W), batch),
        ("CFG, two calls", two_calls, batch),
        ("network alone at batch 2B", cond, 2 * batch),
        (f"classifier guidance, Alg. 2 (γ = {GAMMA:g})", eps_classifier_guided(
            uncond, noise_aware_log_prob(noisy), GAMMA), batch),
        (f"x̂₀ variant (backward through UNet; {clean_name})", x0_guided, batch),
    ]


def one_step(net, x, labels, alpha_bars, generator):
    return sample_ddpm(net, x, alpha_bars, labels=labels, generator=generator)


@torch.no_grad()
def measure(batch: int, threads: int, warmup: int, repeats: int) -> list[tuple[str, float, float]]:
    torch.set_num_threads(threads)
    rows = settings(batch)
    alpha_bars = ddpm_alpha_bars()[torch.linspace(999, 0, 50).round().long()]
    alpha_bars = alpha_bars[24:26]                         # one step in the middle of a 50-step grid
    inputs = {}
    for _, _, b in rows:
        g = torch.Generator().manual_seed(0)
        inputs[b] = (torch.randn(b, 1, 28, 28, generator=g), torch.arange(b) % 10)
    for _ in range(warmup):
        for _, net, b in rows:
            one_step(net, *inputs[b], alpha_bars, torch.Generator().manual_seed(1))
    cpu = {name: [] for name, _, _ in rows}
    wall = {name: [] for name, _, _ in rows}
    for r in range(repeats):                                # interleaved, in a new order every round
        for name, net, b in random.Random(r).sample(rows, len(rows)):
            c0, w0 = time.process_time(), time.perf_counter()
            one_step(net, *inputs[b], alpha_bars, torch.Generator().manual_seed(1))
            cpu[name].append(time.process_time() - c0)
            wall[name].append(time.perf_counter() - w0)
    return [(name, 1e3 * statistics.median(cpu[name]), 1e3 * statistics.median(wall[name]), 1e3 * min(cpu[name]))
            for name, _, _ in rows]


@torch.no_grad()
def wrapper_only(batch: int, runs: int = 200) -> float:
    """Mean CPU ms of ``cfg_eps`` around a network that costs nothing: the cat, labels, chunk and combination."""
    x, c = torch.randn(batch, 1, 28, 28), torch.arange(batch) % 10
    eps_fixed = torch.randn(2 * batch, 1, 28, 28)

    def stub(x, t, labels):
        return eps_fixed
    stub.config = pretrained.load("mnist_cond", device="cpu").config    # cfg_eps reads the null label here
    eps_w, t = cfg_eps(stub, W), torch.tensor(1.0)
    eps_w(x, t, c)                                                       # warm-up
    start = time.process_time()
    for _ in range(runs):
        eps_w(x, t, c)
    return 1e3 * (time.process_time() - start) / runs


def main(batch: int, threads: list[int], warmup: int, repeats: int) -> None:
    print(f"one DDPM step at batch {batch}; median of {repeats} interleaved runs after {warmup} warm-up runs; "
          f"torch {torch.__version__}\n")
    verdicts = []
    for n_threads in threads:
        rows = measure(batch, n_threads, warmup, repeats)
        ref_cpu, ref_wall, ref_min = rows[0][1], rows[0][2], rows[0][3]
        print(f"**{n_threads} thread{'s' if n_threads > 1 else ''}**\n")
        print("| step | CPU ms | ratio (CPU) | wall ms | ratio (wall) | min CPU ms | ratio (min CPU) |")
        print("|---|---|---|---|---|---|---|")
        for name, c, w, m in rows:
            print(f"| {name} | {c:.1f} | {c / ref_cpu:.2f} | {w:.1f} | {w / ref_wall:.2f} | {m:.1f} | {m / ref_min:.2f} |")
        print()
        cfg_cpu = rows[2][1] / ref_cpu
        wrap = wrapper_only(batch)
        print(f"decomposed: cfg_eps's own work (stub network) {wrap:.2f} ms = {100 * wrap / ref_cpu:.1f} % of an "
              f"unguided step; network at 2B / unguided = {rows[4][1] / ref_cpu:.2f}; "
              f"(2B step + wrapper) / unguided = {(rows[4][1] + wrap) / ref_cpu:.2f}\n")
        verdicts.append(f"{n_threads} thread(s): CFG / unguided = {cfg_cpu:.2f} (median CPU time), "
                        f"{rows[2][2] / ref_wall:.2f} (wall), {rows[2][3] / ref_min:.2f} (min CPU) -> "
                        f"{'PASS' if cfg_cpu <= 2.05 else 'FAIL'} (≤ 2.05 on the median CPU time)")
    print("\n".join(verdicts))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count()],
                        help="intra-op thread counts to measure (default: 1 and every core)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    main(args.batch, args.threads, args.warmup, args.repeats)
