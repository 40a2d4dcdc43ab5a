"""Our DDPM and DDIM loops against diffusers' DDPMScheduler / DDIMScheduler loops.

Same network (the course UNet: the shipped ``mnist_uncond`` if present, else a
randomly initialised ``UNet`` of the same configuration with its zero-initialised
output layer randomised), the same schedule (DDPM linear, handed to diffusers
in float64, see tests/test_diffusion_diffusers.py), the same start and the same
generator.  Reported per sampler:

- max |ours − diffusers| over the batch (target ≤ 1e-5);
- wall time ours / diffusers (target ≤ 1.0);
- our overhead over the bare network calls, (ours − bare) / bare (target ≤ 5 % at batch 64, 50 steps).

End-to-end times are the minimum over ``--repeats`` interleaved runs, measured as
the CPU time of this process (``time.process_time``; single-threaded it is the
compute the loop needs, while wall time on a shared machine also measures the
other users — it is printed too).  Both still wobble by a few per cent, more than
the loops themselves cost.  So the
sampler's own cost is also measured apart: the same loop with a stub network
that returns a fixed ε̂ instantly ("loop only", mean of 20 runs).  The
decomposed figures are then  overhead = loop / bare  and
ratio = (bare + loop_ours) / (bare + loop_diffusers).
Also printed: the difference to diffusers with its stock float32 ᾱ.

    OMP_NUM_THREADS=1 python benchmarks/bench_samplers.py [--batch 64] [--steps 50] [--repeats 5]
"""
from __future__ import annotations

import argparse
import time

import torch
from diffusers import DDIMScheduler, DDPMScheduler

from tempguide import pretrained
from tempguide.diffusion import ddpm_alpha_bars, sample_ddim, sample_ddpm, t_from_alpha_bar
from tempguide.models import UNet, UNetConfig

SCHEDULE = dict(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02, clip_sample=False)
ALPHA_BARS = ddpm_alpha_bars()


def course_unet() -> tuple[torch.nn.Module, str]:
    if "mnist_uncond" in pretrained.available():
        return pretrained.load("mnist_uncond").eval(), "mnist_uncond (shipped)"
    torch.manual_seed(0)
    net = UNet(UNetConfig()).eval()
    torch.nn.init.normal_(net.out.weight, std=0.05)  # else ε̂ ≡ 0 at initialisation
    return net, "UNet(UNetConfig()) random init (mnist_uncond not shipped yet)"


def make_scheduler(cls, steps: int, float64: bool = True):
    s = cls(**SCHEDULE)
    if float64:
        s.alphas_cumprod = ALPHA_BARS
    s.set_timesteps(steps)
    return s


def diffusers_loop(scheduler, net, x, generator, **step_kwargs):
    for k in scheduler.timesteps:
        eps_hat = net(x, t_from_alpha_bar(ALPHA_BARS[k]).float())
        x = scheduler.step(eps_hat, k, x, generator=generator, **step_kwargs).prev_sample
    return x


def bare_loop(net, x, alpha_bars):
    """Only the network calls our loop makes (same inputs each call: the cost does not depend on x)."""
    for alpha_bar in alpha_bars[:-1]:
        net(x, ((1 - alpha_bar) / alpha_bar).float())
    return x


def loop_only(fn, runs: int = 20) -> float:
    """Mean CPU time of ``fn`` (a sampler driven by a stub network)."""
    fn()  # warm-up
    start = time.process_time()
    for _ in range(runs):
        fn()
    return (time.process_time() - start) / runs


def timed(fn):
    """(CPU seconds, wall seconds, result) of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    return time.process_time() - cpu, time.perf_counter() - wall, out


@torch.no_grad()
def main(batch: int, steps: int, repeats: int) -> None:
    net, net_name = course_unet()
    params = sum(p.numel() for p in net.parameters())
    print(f"network: {net_name}, {params / 1e6:.2f} M parameters; batch {batch}, {steps} steps, "
          f"threads {torch.get_num_threads()}, min of {repeats} runs\n")
    x = torch.randn(batch, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    rows = []
    for name, cls, ours_fn, kw in [
        ("DDPM", DDPMScheduler, sample_ddpm, {}),
        ("DDIM eta=0", DDIMScheduler, sample_ddim, {"eta": 0.0}),
    ]:
        sched = make_scheduler(cls, steps)
        levels = torch.cat([ALPHA_BARS[sched.timesteps], torch.ones(1, dtype=torch.float64)])
        t_ours, t_ref, t_bare, wall_ours, wall_ref = [], [], [], [], []
        for _ in range(repeats):  # interleaved, so load changes hit all three alike
            dt, wall, ours = timed(lambda: ours_fn(net, x, levels, generator=torch.Generator().manual_seed(1), **kw))
            t_ours.append(dt)
            wall_ours.append(wall)
            dt, wall, ref = timed(lambda: diffusers_loop(sched, net, x, torch.Generator().manual_seed(1), **kw))
            t_ref.append(dt)
            wall_ref.append(wall)
            dt, _, _ = timed(lambda: bare_loop(net, x, levels))
            t_bare.append(dt)
        stock = diffusers_loop(make_scheduler(cls, steps, float64=False), net, x, torch.Generator().manual_seed(1), **kw)
        eps_fixed = net(x, torch.tensor(1.0))
        stub = lambda x, t, labels=None: eps_fixed  # noqa: E731  (a network that costs nothing)
        loop_ours = loop_only(lambda: ours_fn(stub, x, levels, generator=torch.Generator().manual_seed(1), **kw))
        loop_ref = loop_only(lambda: diffusers_loop(sched, stub, x, torch.Generator().manual_seed(1), **kw))
        rows.append((name, (ours - ref).abs().max().item(), (ours - stock).abs().max().item(),
                     min(t_ours), min(t_ref), min(t_bare), min(wall_ours) / min(wall_ref), loop_ours, loop_ref))

    head = (f"{'sampler':<11} {'max|Δ|':>8} {'f32 ᾱ |Δ|':>10} {'ours s':>7} {'diff. s':>7} {'bare s':>7} "
            f"{'ratio':>6} {'overhd':>7} {'wall ratio':>10} | {'loop ours ms':>12} {'loop diff. ms':>13} "
            f"{'ratio':>6} {'overhd':>7}")
    print(head)
    print(f"{'':<11} {'':>8} {'':>10} {'end to end, CPU seconds (min of runs)':^50} | "
          f"{'decomposed: stub network':^42}")
    print("-" * len(head))
    for name, diff, diff32, t_o, t_r, t_b, wall_ratio, l_o, l_r in rows:
        print(f"{name:<11} {diff:>8.1e} {diff32:>10.1e} {t_o:>7.2f} {t_r:>7.2f} {t_b:>7.2f} "
              f"{t_o / t_r:>6.3f} {100 * (t_o - t_b) / t_b:>6.1f}% {wall_ratio:>10.3f} | {1e3 * l_o:>12.1f} "
              f"{1e3 * l_r:>13.1f} {(t_b + l_o) / (t_b + l_r):>6.3f} {100 * l_o / t_b:>6.2f}%")
    print("\ntargets: max|Δ| ≤ 1e-5, ours/diffusers ≤ 1.0, overhead ≤ 5 %.  'f32 ᾱ |Δ|': against diffusers "
          "with its stock float32 schedule (information only).")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    main(args.batch, args.steps, args.repeats)
