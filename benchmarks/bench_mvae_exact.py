"""The linear-Gaussian Markovian VAE in closed form: the noise scale and the generation modes
(notebook 50; book: "The Markovian-VAE generalization", the exact instance).

Data y ∈ R⁸, p(y | x) = N(x·b, Σ) at x = 2 and p(y | ∅) = N(0, Σ + b bᵀ)
(``tempguide.mvae.linear_gaussian.example``); averaging encoders 8 → 4 → 2 → 1 → ∅; the
decoders are the exact conditional expectations.  Every law below is exact (``chain_law``):
no sampling, so the numbers have no error bars.  Two tables:

- ``mvae_lg_noise``: the decoder noise — the seed's unit variance, the maximum-likelihood
  isotropic σ_i (√(tr R_i / d_i)), the exact residual covariance R_i — against the data.
- ``mvae_lg_modes``: with the ML σ_i, each mode's output law and joint law against its target
  (the tempered model N^β for ε/√β; the geometric p_x^w p_∅^{1−w} of the model's laws for CFG).

    OMP_NUM_THREADS=1 python benchmarks/bench_mvae_exact.py
"""
from __future__ import annotations

import datetime
import math
import sys
from pathlib import Path

from tempguide.metrics.tables import save_table
from tempguide.mvae import linear_gaussian as lg

ROOT = Path(__file__).resolve().parents[1]


def _zero(value: float) -> float:
    """Values below 1e-9 are float64 round-off of an exact 0 and are reported as 0."""
    return 0.0 if abs(value) < 1e-9 else value


def _kl(p, q) -> float:
    return _zero(lg.gaussian_kl(p, q))


def noise_rows(good, dg):
    rows, data_trace = [], float(good.cov.trace())
    for label, noise in [("unit variance σ_i = 1 (the seed)", [1.0] * len(dg)),
                         ("ML isotropic σ_i", lg.ml_sigmas(dg)),
                         ("exact residual covariance R_i", [d.R for d in dg])]:
        law = lg.chain_law(dg, noise)[-1]
        sig = ", ".join(f"{s:.3f}" for s in noise) if isinstance(noise[0], float) else "R_i"
        rows.append([label, sig, _kl(law, good), float(law.cov.trace()), data_trace])
    return rows


def mode_rows(good, dg, dn):
    sig = lg.ml_sigmas(dg)
    model_x, model_0 = lg.chain_law(dg, sig)[-1], lg.chain_law(dn, sig)[-1]
    joint_x, joint_0 = lg.chain_law(dg, sig, joint=True), lg.chain_law(dn, sig, joint=True)
    rows = []

    def row(label, target, decs, beta, out_target, joint_target):
        out, joint = lg.chain_law(decs, sig, beta)[-1], lg.chain_law(decs, sig, beta, joint=True)
        kl_out = None if out_target is None else _kl(out, out_target)
        kl_joint = None if joint_target is None else _kl(joint, joint_target)
        rows.append([label, target, kl_out, kl_joint, _zero(float((out.mean - good.mean).norm())),
                     float(out.cov.trace())])

    row("unadjusted", "the model p_x", dg, 1.0, model_x, joint_x)
    row("unadjusted, x = ∅ (ignores x)", "the model p_∅", dn, 1.0, model_0, joint_0)
    for beta in [0.5, 2.0]:
        row(f"temperature-adjusted, β = {beta:g}", "p_x^β", dg, beta,
            lg.tempered_law(model_x, beta), lg.tempered_law(joint_x, beta))
    for w in [1.5, 2.0, 3.0]:
        def geometric(a, b):
            try:
                return lg.geometric_law(a, b, w)
            except ValueError:                                   # not normalisable: no target
                return None
        row(f"CFG, w = {w:g}", "p_x^w p_∅^(1−w)", lg.combine(dg, dn, w), 1.0,
            geometric(model_x, model_0), geometric(joint_x, joint_0))
    row("guidance-adjusted as written (ẑ_x − ẑ_∅)", "—", lg.combine(dg, dn), 1.0, None, None)
    return rows


def main():
    good, null = lg.example()
    enc = lg.averaging_encoders(8)
    dg, dn = lg.optimal_decoders(good, enc), lg.optimal_decoders(null, enc)
    meta = {"command": "python benchmarks/bench_mvae_exact.py", "instance": "linear_gaussian.example(d0=8, x=2.0)",
            "method": "closed form (chain_law), no sampling", "date": datetime.date.today().isoformat()}
    tables = {
        "mvae_lg_noise": (["decoder noise", "σ_i (top level first)", "KL(model ‖ data) (nats)", "tr Cov model",
                           "tr Cov data"], noise_rows(good, dg)),
        "mvae_lg_modes": (["mode (ML σ_i)", "target", "KL(output ‖ target)", "KL(joint ‖ target)",
                           "‖mean − μ_x‖", "tr Cov output"], mode_rows(good, dg, dn)),
    }
    for name, (columns, rows) in tables.items():
        if "--no-save" not in sys.argv:
            save_table(name, columns, rows, meta=meta, directory=ROOT / "book" / "results")
        print(f"\n{name}\n| " + " | ".join(columns) + " |\n" + "|---" * len(columns) + "|")
        for r in rows:
            print("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in r) + " |")


if __name__ == "__main__":
    main()
