"""Chapter 2's exact-toy tables: every temperature knob against P^β on one Gaussian and on the two mixtures.

The protocol of ``notebooks/21_diffusion_temperature_exact.ipynb`` (its quick profile), with the exact
denoisers of ``tempguide.toy`` so that everything measured is the sampler's doing:

- one Gaussian N(1.5, 0.7²): final variance of each knob, closed form
  (``final_variances``) and simulated (``--n-gauss`` samples, 400 Euler–Maruyama steps / 200 Heun steps
  from t = 400 to 1e-4), for β ∈ {1/2, 1, 2, 4, 8};
- ``toy.mixture_1d()``: the light mode's weight, and each mode's width ÷ P^β's, for β ∈ {1, 2, 4, 8};
- ``toy.mixture_2d()`` at β = 4: the four weights, their total variation from P^β, the four widths.

Knobs: the reverse SDE with noise × √T (100 geometric steps), the probability-flow ODE (Heun, 50 Karras
steps) from N(0, T t_0), the reverse SDE with score × β, annealed Langevin at T (10 levels from 25 to 1e-3,
20 steps of size 1e-3 at each level), and in 1-D the scaled-start ODE's exact law (``ode_scaled_start_1d``).
P^β's weights and widths are computed on a grid (``tempered_probabilities``); a sample's mode is its most
probable component (``mode_statistics``).

    OMP_NUM_THREADS=1 python benchmarks/bench_diffusion_temperature_exact.py            # writes book/results/
    OMP_NUM_THREADS=1 python benchmarks/bench_diffusion_temperature_exact.py --no-save --n 1000

Cost: about 3 minutes of one core at the defaults (16,000 samples per mixture cell, 8,000 per Gaussian cell).
"""
from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import torch

from tempguide import config, toy
from tempguide.diffusion import (final_variances, geometric_ts, karras_ts, mode_statistics, ode_scaled_start_1d,
                                 sample_annealed_langevin, sample_ode_heun, sample_prior, sample_reverse_sde,
                                 scale_score, tempered_probabilities)
from tempguide.metrics.tables import save_table

ROOT = Path(__file__).resolve().parents[1]
T_MAX, T_MIN = 400.0, 1e-4                        # noise variances at the start and the end
MU, S = 1.5, 0.7                                  # the one Gaussian
GAUSS_BETAS = [0.5, 1.0, 2.0, 4.0, 8.0]
MIX_BETAS = [1.0, 2.0, 4.0, 8.0]
BETA_2D = 4.0
KNOBS = ["noise × √T", "ODE, scaled start", "SDE, score × β", "Langevin at T"]


def knob_samples(denoiser, beta, n, d, steps, generator):
    """One sample set per knob at inverse temperature β, each one library call (as notebook 21)."""
    T = 1 / beta
    ts, ts_heun, ts_langevin = geometric_ts(T_MAX, T_MIN, steps), karras_ts(T_MAX, T_MIN, steps // 2), \
        geometric_ts(25.0, 1e-3, 10)

    def prior(temperature=1.0, t_max=T_MAX):
        return sample_prior((n, d), t_max, temperature=temperature, generator=generator, dtype=torch.float64)
    return {
        "noise × √T": sample_reverse_sde(denoiser, prior(), ts, temperature=T, generator=generator),
        "ODE, scaled start": sample_ode_heun(denoiser, prior(temperature=T), ts_heun),
        "SDE, score × β": sample_reverse_sde(scale_score(denoiser, beta), prior(), ts, generator=generator),
        "Langevin at T": sample_annealed_langevin(denoiser, prior(t_max=25.0), ts_langevin, n_steps=20,
                                                  step_size=1e-3, temperature=T, generator=generator),
    }


def gaussian_rows(n, steps, generator):
    """β, P^β's variance, then (closed form, simulated) for the four knobs of the one-Gaussian table."""
    gauss = toy.GaussianMixture([1.0], [[MU]], [S])
    ts, ts_heun = geometric_ts(T_MAX, T_MIN, steps), karras_ts(T_MAX, T_MIN, steps // 2)
    rows = []
    for beta in GAUSS_BETAS:
        closed = final_variances(S**2, T_MAX, T_MIN, beta)

        def prior(temperature=1.0):
            return sample_prior((n, 1), T_MAX, temperature=temperature, generator=generator, dtype=torch.float64)
        simulated = [
            sample_reverse_sde(gauss.denoise, prior(), ts, temperature=1 / beta, generator=generator),
            sample_ode_heun(gauss.denoise, prior(temperature=1 / beta), ts_heun),
            sample_reverse_sde(scale_score(gauss.denoise, beta), prior(), ts, generator=generator),
            sample_ode_heun(scale_score(gauss.denoise, beta), prior(), ts_heun),
        ]
        names = ["reverse SDE, noise x sqrt(T)", "ODE from scaled start", "reverse SDE, score x beta",
                 "ODE, score x beta"]
        row = [f"{beta:g}", closed["P^beta (exact)"]]
        for name, z in zip(names, simulated):
            row += [closed[name], z.var().item()]
        rows.append(row)
    return rows


def mixture_stats(mix, grid, beta, n, steps, generator, exact_1d=False):
    """{method: ModeStats} for P^β (on the grid), every knob, and in 1-D the ODE's exact law."""
    stats = {"P^β": mode_statistics(mix, grid, tempered_probabilities(mix.log_prob(grid), beta))}
    for name, y in knob_samples(mix.denoise, beta, n, mix.dim, steps, generator).items():
        stats[name] = mode_statistics(mix, y)
    if exact_1d:
        stats["ODE, exact 1-D law"] = mode_statistics(mix, *ode_scaled_start_1d(mix, 1 / beta))
    return stats


def number(x):
    """A table cell: None for an empty mode (NaN width)."""
    return None if x != x else x


def ratio_pair(stats, exact):
    """'heavy / light' width ÷ P^β's width, 2 decimals; — for an empty mode."""
    r = (stats.stds / exact.stds).tolist()
    return " / ".join("—" if x != x else f"{x:.2f}" for x in r)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=16000, help="samples per (knob, β) on the mixtures")
    parser.add_argument("--n-gauss", type=int, default=8000, help="samples per (knob, β) on one Gaussian")
    parser.add_argument("--steps", type=int, default=100, help="SDE steps on the mixtures (Heun: half)")
    parser.add_argument("--no-save", action="store_true", help="print only, do not write book/results/")
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator = config.seed_everything(0)
    start = time.time()
    meta = {"command": "OMP_NUM_THREADS=1 python benchmarks/bench_diffusion_temperature_exact.py "
                       f"--n {args.n} --n-gauss {args.n_gauss} --steps {args.steps}",
            "date": datetime.date.today().isoformat(), "t_max": T_MAX, "t_min": T_MIN, "seed": 0}

    g_cols = ["β", "P^β", "noise × √T: closed", "simulated", "ODE, scaled start: closed", "simulated",
              "SDE, score × β: closed", "simulated", "ODE, score × β: closed", "simulated"]
    g_rows = gaussian_rows(args.n_gauss, 4 * args.steps, generator)

    mix1 = toy.mixture_1d()
    grid1 = torch.linspace(-7, 7, 7001, dtype=torch.float64)[:, None]
    methods1 = ["P^β", *KNOBS, "ODE, exact 1-D law"]
    by_beta = {b: mixture_stats(mix1, grid1, b, args.n, args.steps, generator, exact_1d=True) for b in MIX_BETAS}
    w_cols = ["β", *methods1]
    w_rows = [[f"{b:g}", *[by_beta[b][m].weights[1].item() for m in methods1]] for b in MIX_BETAS]
    s_cols = ["width ÷ P^β's (heavy / light)", *[f"β = {b:g}" for b in MIX_BETAS]]
    s_rows = [[m, *[ratio_pair(by_beta[b][m], by_beta[b]["P^β"]) for b in MIX_BETAS]] for m in methods1[1:]]
    s_rows.insert(0, ["P^β's widths", *[" / ".join(f"{x:.3f}" for x in by_beta[b]["P^β"].stds.tolist())
                                        for b in MIX_BETAS]])

    mix2 = toy.mixture_2d()
    axis = torch.linspace(-5, 5, 301, dtype=torch.float64)
    grid2 = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    stats2 = mixture_stats(mix2, grid2, BETA_2D, args.n, args.steps, generator)
    exact2 = stats2["P^β"]
    m_cols = ["at β = 4", "w₀", "w₁", "w₂", "w₃", "TV to P^β", "s₀", "s₁", "s₂", "s₃"]
    m_rows = [[m, *st.weights.tolist(), 0.5 * (st.weights - exact2.weights).abs().sum().item(),
               *[number(x) for x in st.stds.tolist()]] for m, st in stats2.items()]

    tables = {
        "diffusion_temperature_gaussian": (g_cols, g_rows, "final variance on N(1.5, 0.7²); simulated with "
                                           f"{args.n_gauss} samples, {4 * args.steps} SDE / {2 * args.steps} Heun steps"),
        "diffusion_temperature_1d_weights": (w_cols, w_rows, f"toy.mixture_1d(): weight of the light mode (+2); "
                                             f"{args.n} samples per cell"),
        "diffusion_temperature_1d_widths": (s_cols, s_rows, "toy.mixture_1d(): each mode's RMS width ÷ P^β's "
                                            "(heavy mode at −2 / light mode at +2)"),
        "diffusion_temperature_2d": (m_cols, m_rows, "toy.mixture_2d() at β = 4: weights, TV to P^β's weights, "
                                     f"RMS widths per coordinate; {args.n} samples per row"),
    }
    for name, (cols, rows, what) in tables.items():
        print(f"\n{name}: {what}")
        if args.no_save:
            from tempguide.metrics.tables import markdown_table
            print(markdown_table(cols, rows))
        else:
            print(save_table(name, cols, rows, meta={**meta, "what": what}, directory=ROOT / "book" / "results")
                  .read_text())
    print(f"{time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
