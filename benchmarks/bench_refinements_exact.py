"""The refinements of CFG on the exact toys: which one keeps p(y | c) as w grows (book: "The refinements on the exact toy").

On ``toy.mixture_1d()`` (class c = 1, the minor mode N(2, 0.5²)) and ``toy.mixture_2d()``
(class c = 0: modes of within-class weight 0.8 / 0.2) every guided denoiser is built
from the exact D_∅ and D_c (``tempguide.guidance.refinement_laws``), so w = 1 is p(y | c)
up to the sampler and everything else is guidance's doing.  For each method and
w ∈ {1, 2, 4, 8}:

- samples: ``--n`` points (a power of 2: scrambled Sobol starts, little Monte-Carlo noise) by the
  probability-flow ODE (Heun, ``--steps`` geometric levels from t = 1e4 to 1e-4); DDIM and CFG++
  on the same levels (ᾱ = 1/(1 + t), then ᾱ = 1) from the same starts;
- the law: ``law_summary`` — weight of class c, total variation of its mode weights, mean error
  and width ratio of its modes (mass-weighted with the exact π_k), sliced W₁ to p(y | c)
  (16 directions; exact projected CDFs).  The first row of each table is n i.i.d. samples of
  p(y | c): the sampling floor of the distance.

Methods: plain CFG; the guidance interval (guidance only at low, middle, high, very high t, and at
Kynkäänniemi et al.'s EDM2 interval σ ∈ (0.28, 5.42], i.e. t = σ², unchanged although the toy's scale differs);
APG η = 0 on D (no cap, no momentum); CFG-Zero* on the straight-path velocity (no zero-init);
rescaled CFG φ = 0.7 on ε̂ (2-D only: in 1-D the per-example std of one number is undefined);
autoguidance with the exact model widened × 1.5 as the weak guide; DDIM-CFG and CFG++ with
λ = w (1 − σ_{i+1}/σ_i), which on this geometric grid is DDIM-CFG at weight w (all but the last step).

    OMP_NUM_THREADS=1 python benchmarks/bench_refinements_exact.py            # writes book/results/
    OMP_NUM_THREADS=1 python benchmarks/bench_refinements_exact.py --no-save --n 1024 --steps 128

Cost: about 3 minutes of one core at the defaults (n = 4096, 256 steps).
"""
from __future__ import annotations

import argparse
import datetime
import math
import time
from pathlib import Path

import torch

from tempguide import toy
from tempguide.diffusion import alpha_bar_from_t, geometric_ts, sample_ddim
from tempguide.guidance import cfg, cfg_denoisers, cfg_eps
from tempguide.guidance.cfgpp import sample_ddim_cfgpp
from tempguide.guidance.interval import cfg_interval_denoisers
from tempguide.guidance.refinement_laws import (ExactEpsNet, autoguided_denoiser, law_summary, quasi_normal,
                                                rule_denoiser, sample_ode)
from tempguide.guidance.refinements import apg, cfg_zero_star, rescale
from tempguide.metrics.tables import save_table

ROOT = Path(__file__).resolve().parents[1]
T_MAX, T_MIN, SEED = 1e4, 1e-4, 0
WS = [2.0, 4.0, 8.0]
COLUMNS = ["method", "setting", "w", "class-c weight", "mode-weight TV", "mean error", "width / s", "sliced W₁"]
INTERVALS = [("interval", "low only: t ≤ 1", 0.0, 1.0), ("interval", "middle: 0.25 ≤ t ≤ 4", 0.25, 4.0),
             ("interval", "EDM2's σ ∈ (0.28, 5.42]: 0.078 ≤ t ≤ 29.4", 0.28**2, 5.42**2),
             ("interval", "high only: t ≥ 1", 1.0, math.inf), ("interval", "very high only: t ≥ 16", 16.0, math.inf)]


def ode_methods(mix, c, w):
    """(method, setting, denoiser) for every rule run through the PF-ODE at weight w."""
    Du, Dc = mix.denoise, mix.condition(c).denoise
    rows = [("CFG", "everywhere", cfg_denoisers(Du, Dc, w))]
    rows += [(m, s, cfg_interval_denoisers(Du, Dc, w, lo, hi)) for m, s, lo, hi in INTERVALS]
    rows += [("APG", "η = 0, on D", rule_denoiser(Du, Dc, lambda u, x: apg(u, x, w, eta=0.0))),
             ("CFG-Zero*", "on v, no zero-init", rule_denoiser(Du, Dc, lambda u, x: cfg_zero_star(u, x, w),
                                                                space="velocity"))]
    if mix.dim > 1:
        rows.append(("rescaled CFG", "φ = 0.7, on ε̂", rule_denoiser(Du, Dc, lambda u, x: rescale(cfg(u, x, w), x, 0.7),
                                                                    space="eps")))
    rows.append(("autoguidance", "weak = widths × 1.5", autoguided_denoiser(mix, c, w, widen=1.5)))
    return rows


def ddim_levels(steps):
    ts = geometric_ts(T_MAX, T_MIN, steps)
    return torch.cat([alpha_bar_from_t(ts), torch.ones(1, dtype=torch.float64)]), math.sqrt(ts[1] / ts[0])


def summary_row(method, setting, w, mix, c, y):
    s = law_summary(mix, c, y)
    w = None if w is None else int(w) if float(w).is_integer() else w          # shown as 2, not 2.000
    return [method, setting, w, s.class_weight, s.mode_tv, s.mean_error, s.width_ratio, s.sliced_w1]


def sweep(mix, c, n, steps, samples):
    """The table's rows for one toy; ``samples[(method, setting, w)]`` keeps the points for the figure."""
    run = dict(t_max=T_MAX, t_min=T_MIN, steps=steps, seed=SEED)
    iid = mix.condition(c).sample(n, generator=torch.Generator().manual_seed(SEED))
    rows = [summary_row("i.i.d. samples of class c", "sampling floor", None, mix, c, iid)]
    samples[("exact", 1.0)] = iid
    y = sample_ode(mix.condition(c).denoise, n, mix.dim, **run)
    rows.append(summary_row("every rule (= D_c)", "PF-ODE", 1.0, mix, c, y))
    for w in WS:
        for method, setting, denoiser in ode_methods(mix, c, w):
            y = sample_ode(denoiser, n, mix.dim, **run)
            samples[(method, setting, w)] = y
            rows.append(summary_row(method, setting, w, mix, c, y))
    net, (alpha_bars, rho) = ExactEpsNet(mix), ddim_levels(steps)
    x0 = math.sqrt(T_MAX) * quasi_normal(n, mix.dim, seed=SEED) * alpha_bars[0].sqrt()   # x = z/√(1 + t)
    labels = torch.full((n,), c)
    for w in [1.0] + WS:
        rows.append(summary_row("DDIM-CFG", f"{steps} steps", w, mix, c,
                                sample_ddim(cfg_eps(net, w), x0, alpha_bars, labels=labels)))
        lam = w * (1 - rho)
        if lam <= 1:
            rows.append(summary_row("CFG++", f"λ = {lam:.3f}", w, mix, c,
                                    sample_ddim_cfgpp(net, x0, alpha_bars, labels, lam)))
    method = {m: i for i, m in enumerate(dict.fromkeys(r[0] for r in rows))}
    setting = {s: i for i, s in enumerate(dict.fromkeys(r[1] for r in rows))}
    return sorted(rows, key=lambda r: (method[r[0]], setting[r[1]] if r[0] == "interval" else 0, r[2] or 0))


def figure(samples_1d, samples_2d, path, w=4.0):
    """1-D densities and 2-D scatters at weight w beside p(y | c)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(13, 6.2))
    ax = axes[0, 0]
    grid = torch.linspace(0, 5, 501, dtype=torch.float64)[:, None]
    ax.plot(grid[:, 0], toy.mixture_1d().condition(1).log_prob(grid).exp(), "k", lw=2, label="p(y | c)")
    for key, label, style in [(("CFG", "everywhere", w), "CFG everywhere", "-"),
                              (("interval", "high only: t ≥ 1", w), "only at t ≥ 1", ":"),
                              (("interval", "low only: t ≤ 1", w), "only at t ≤ 1", "-")]:
        ax.hist(samples_1d[key][:, 0].numpy(), bins=80, range=(0, 5), density=True, histtype="step", lw=1.5,
                ls=style, label=label)
    ax.set_title(f"1-D toy, class 1, w = {w:g}")
    ax.legend(fontsize=8)
    panels = [(("exact", 1.0), "p(y | c), exact"), (("CFG", "everywhere", w), "CFG"),
              (("interval", "high only: t ≥ 1", w), "guided only at t ≥ 1"),
              (("interval", "low only: t ≤ 1", w), "guided only at t ≤ 1"),
              (("interval", "middle: 0.25 ≤ t ≤ 4", w), "guided only at 0.25 ≤ t ≤ 4"),
              (("APG", "η = 0, on D", w), "APG, η = 0"), (("autoguidance", "weak = widths × 1.5", w), "autoguidance")]
    means = toy.mixture_2d().means
    for ax, (key, title) in zip(axes.flat[1:], panels):
        y = samples_2d[key][:1500]
        ax.scatter(y[:, 0], y[:, 1], s=2, alpha=0.4)
        ax.scatter(means[:2, 0], means[:2, 1], marker="x", c="k", s=40)
        ax.set_xlim(-4, 1.5), ax.set_ylim(-3.5, 4)
        ax.set_title(title + ("" if key[0] == "exact" else f", w = {w:g}"), fontsize=10)
    fig.suptitle("Guidance on the exact toys: where the damage comes from (crosses: the means of class c's modes)")
    fig.tight_layout()
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--no-save", action="store_true", help="print only; do not write book/results/")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.process_time()
    samples = {"1d": {}, "2d": {}}
    tables = {"refinements_exact_1d": sweep(toy.mixture_1d(), 1, args.n, args.steps, samples["1d"]),
              "refinements_exact_2d": sweep(toy.mixture_2d(), 0, args.n, args.steps, samples["2d"])}
    meta = {"command": f"OMP_NUM_THREADS=1 python benchmarks/bench_refinements_exact.py --n {args.n} "
                       f"--steps {args.steps}",
            "n": args.n, "steps": args.steps, "t_max": T_MAX, "t_min": T_MIN, "seed": SEED,
            "toys": {"refinements_exact_1d": "toy.mixture_1d(), c = 1", "refinements_exact_2d": "toy.mixture_2d(), c = 0"},
            "distance": "sliced W1 to p(y|c), 16 directions, exact projected CDFs",
            "date": datetime.date.today().isoformat(), "cpu_seconds": round(time.process_time() - start, 1)}
    for name, rows in tables.items():
        if not args.no_save:
            save_table(name, COLUMNS, rows, meta=meta, directory=ROOT / "book" / "results")
        print(f"\n{name}\n| " + " | ".join(COLUMNS) + " |\n" + "|---" * len(COLUMNS) + "|")
        for r in rows:
            print("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in r) + " |")
    figure(samples["1d"], samples["2d"], "/tmp/refinements_exact.png" if args.no_save
           else ROOT / "book" / "results" / "refinements_exact.png")
    print(f"\ncpu seconds: {meta['cpu_seconds']}")


if __name__ == "__main__":
    main()
