"""The refinements of CFG side by side on MNIST (notebook 44; book: "Refinements of CFG").

Every setting samples ``--n`` digits (classes ``arange(n) % 10``) from the shipped
``mnist_cond`` on the same ``--steps`` strided levels as ``bench_cfg`` (the DDPM grid of
``ddpm_samples``), from the **same** start noise x_T (seed 1, drawn once for all n) and,
for the stochastic DDPM sampler, the same noise sequence (seed 2):

- DDPM ancestral sampling (``sample_ddpm``) with
  plain CFG ``cfg_eps(net, w)`` (w = 1: the network alone, the unguided reference);
  the guidance interval ``cfg_interval_eps(net, w, t_lo, t_hi)``, Kynkäänniemi et al.'s
  EDM2 interval σ ∈ (0.28, 5.42] in our t = σ²: (0.078, 29.4];
  rescaled CFG ``combined_eps(net, λu,c: rescale(cfg(u, c, w), c, φ))`` in ε-space (as diffusers);
  APG on the denoised predictions (Sadat et al.'s space):
  ``combined_denoiser(net, c, λu,c: apg(u, c, w, eta=η, norm_threshold=r))``;
  CFG-Zero* ``combined_eps(net, λu,c: cfg_zero_star(u, c, w))``;
  autoguidance ``autoguided_eps(net, mnist_cond_weak, w)`` (Karras et al. 2024);
- deterministic DDIM (``sample_ddim``) with plain CFG — the fair baseline of CFG++, which is a
  DDIM sampler — CFG++ ``sample_ddim_cfgpp(net, x, alpha_bars, c, λ)``, and CFG-Zero* with and
  without zero-init (ε̃ = 0 on the first step, Fan et al. §4.2; in deterministic DDIM ε̃ = 0 keeps
  z = x/√ᾱ, i.e. the run starts one level later from the same z, as ``cfg_zero_star``'s docstring says;
  in DDPM ε̃ = 0 would also add the step's noise, so zero-init is measured with DDIM only).

Each sample set is scored by ``tempguide.metrics.guided.conditional_report`` (the judge
``mnist_classifier``, never a guide) against ``n`` real test digits.  Cost per step is the
CPU time of this process spent sampling (``time.process_time``, one thread) divided by
n × steps: it averages over the whole grid, so the interval's unguided steps and the weak
model's smaller network count as they do in a run; "× unguided" divides by the w = 1 DDPM row.  On a
shared machine CPU time is inflated by contention, so the exact count of network evaluations per image
and step (from the rule and the grid) stands beside it.
The column "FID − CFG at same fidelity" subtracts plain CFG's (DDPM) FID interpolated
linearly in fidelity between its measured settings (empty outside their range).

``--table-only`` re-renders the table and figure from the saved runs and adds, once, the real-versus-real
FID for five draws of real digits (reference seeds 0–4): how much FID moves at this n by chance alone.

Results are saved after every setting into ``book/results/cfg_refinements.json`` (the table,
with the raw reports in its meta) and ``.md``, and the figure (FID against fidelity, one
curve per method) into ``book/results/cfg_refinements.png``; a rerun at the same n and steps
skips the settings already measured, so a cut-off run loses at most one setting.

    OMP_NUM_THREADS=1 python benchmarks/bench_refinements.py --n 300 --steps 50
    OMP_NUM_THREADS=1 python benchmarks/bench_refinements.py --only "plain CFG" autoguidance

Cost: a guided DDPM setting of 300 digits × 50 steps is about 40 s of an idle core.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import time
from pathlib import Path

import torch

from tempguide import config, pretrained
from tempguide.diffusion import ddpm_alpha_bars, eps_from_denoiser, sample_ddim, sample_ddpm
from tempguide.guidance.autoguidance import autoguided_eps
from tempguide.guidance.cfg import cfg, cfg_eps
from tempguide.guidance.cfgpp import sample_ddim_cfgpp
from tempguide.guidance.interval import cfg_interval_eps
from tempguide.guidance.refinements import apg, cfg_zero_star, combined_denoiser, combined_eps, rescale
from tempguide.metrics.guided import conditional_report, real_reference
from tempguide.metrics.tables import save_table

ROOT = Path(__file__).resolve().parents[1]
NAME = "cfg_refinements"
T_LO, T_HI = 0.078, 29.4              # Kynkäänniemi et al.'s σ ∈ (0.28, 5.42] as t = σ²: between grid levels
COLUMNS = ["method", "knob", "sampler", "fidelity", "± s.e.", "FID", "FID floor", "FID − CFG at same fidelity",
           "precision", "recall", "diversity", "sharpness", "network evaluations / image / step", "ms / image / step",
           "× unguided"]

# (method, knob, sampler): the settings, in the order of the table
SETTINGS = [
    ("plain CFG", "w = 1", "DDPM"), ("plain CFG", "w = 1.5", "DDPM"), ("plain CFG", "w = 2", "DDPM"),
    ("plain CFG", "w = 3", "DDPM"), ("plain CFG", "w = 4", "DDPM"),
    ("autoguidance", "w = 1.5", "DDPM"), ("autoguidance", "w = 2", "DDPM"), ("autoguidance", "w = 3", "DDPM"),
    ("interval", "w = 3, t ∈ [0.078, 29.4]", "DDPM"), ("interval", "w = 4, t ∈ [0.078, 29.4]", "DDPM"),
    ("interval", "w = 6, t ∈ [0.078, 29.4]", "DDPM"),
    ("APG", "w = 3, η = 0", "DDPM"), ("APG", "w = 4, η = 0", "DDPM"), ("APG", "w = 4, η = 0, r = 4", "DDPM"),
    ("rescale", "w = 3, φ = 0.7", "DDPM"), ("rescale", "w = 4, φ = 0.7", "DDPM"),
    ("CFG-Zero*", "w = 3", "DDPM"), ("CFG-Zero*", "w = 4", "DDPM"), ("plain CFG", "w = 1", "DDIM"), ("plain CFG", "w = 2", "DDIM"), ("plain CFG", "w = 3", "DDIM"),
    ("plain CFG", "w = 4", "DDIM"), ("CFG-Zero*", "w = 4", "DDIM"), ("CFG-Zero*", "w = 4, zero-init 1 step", "DDIM"),
    ("CFG++", "λ = 0.4", "DDIM"), ("CFG++", "λ = 0.6", "DDIM"), ("CFG++", "λ = 0.8", "DDIM"),
]

# the order they are run in: one setting of every method first, so a run cut short still compares them all
FIRST = [("plain CFG", "w = 1", "DDPM"), ("plain CFG", "w = 1.5", "DDPM"), ("plain CFG", "w = 3", "DDPM"),
         ("autoguidance", "w = 2", "DDPM"), ("interval", "w = 4, t ∈ [0.078, 29.4]", "DDPM"),
         ("APG", "w = 4, η = 0", "DDPM"), ("CFG-Zero*", "w = 4", "DDPM"), ("rescale", "w = 4, φ = 0.7", "DDPM"),
         ("plain CFG", "w = 3", "DDIM"), ("CFG++", "λ = 0.6", "DDIM"), ("plain CFG", "w = 2", "DDPM"),
         ("autoguidance", "w = 1.5", "DDPM"), ("autoguidance", "w = 3", "DDPM"),
         ("interval", "w = 6, t ∈ [0.078, 29.4]", "DDPM"), ("APG", "w = 3, η = 0", "DDPM")]
RUN_ORDER = FIRST + [s for s in SETTINGS if s not in FIRST]


def knob_values(knob: str) -> dict[str, float]:
    """'w = 4, η = 0, r = 4' → {'w': 4, 'η': 0, 'r': 4} (the interval and zero-init parts are read elsewhere)."""
    values = {}
    for part in knob.split(", "):
        name, _, value = part.partition(" = ")
        if _ and name in ("w", "η", "r", "φ", "λ"):
            values[name] = float(value)
    return values


def zero_init(eps_fn, t_first: float):
    """CFG-Zero*'s zero-init as a sampler option: ε̃ = 0 (zero score) at the first level t_first, eps_fn after."""
    def eps(x, t, labels=None):
        return torch.zeros_like(x) if float(t) >= t_first else eps_fn(x, t, labels)
    return eps


def apg_eps(net, w, eta, r):
    """APG on the denoised predictions (Sadat et al.), as an ε-function for the ᾱ samplers."""
    def eps(x, t, labels):
        rule = lambda u, c: apg(u, c, w, eta=eta, norm_threshold=r)               # noqa: E731
        return eps_from_denoiser(combined_denoiser(net, labels, rule))(x, t)
    return eps


def eps_function(method: str, knob: str, net, weak, t_first: float):
    """The ε-function a DDPM/DDIM setting samples with."""
    k = knob_values(knob)
    w = k.get("w", 1.0)
    if method == "plain CFG":
        return net if w == 1 else cfg_eps(net, w)              # at w = 1 the guided network is net itself
    if method == "autoguidance":
        return autoguided_eps(net, weak, w)
    if method == "interval":
        return cfg_interval_eps(net, w, T_LO, T_HI)
    if method == "APG":
        return apg_eps(net, w, k["η"], k.get("r", 0.0))
    if method == "rescale":
        return combined_eps(net, lambda u, c: rescale(cfg(u, c, w), c, k["φ"]))
    if method == "CFG-Zero*":
        eps = combined_eps(net, lambda u, c: cfg_zero_star(u, c, w))
        return zero_init(eps, t_first) if "zero-init" in knob else eps
    raise ValueError(f"method must be one of the DDPM methods of SETTINGS, got {method!r}")


@torch.no_grad()
def sample(method, knob, sampler, net, weak, x_T, labels, alpha_bars, batch=100) -> tuple[torch.Tensor, float]:
    """The n digits of one setting and the CPU seconds spent sampling them."""
    t_first = float((1 - alpha_bars[0]) / alpha_bars[0]) * (1 - 1e-4)
    noise = torch.Generator().manual_seed(2)                   # DDPM's noise sequence, the same for every setting
    out, cpu = [], 0.0
    for start in range(0, len(x_T), batch):
        x, c = x_T[start:start + batch], labels[start:start + batch]
        c0 = time.process_time()
        if method == "CFG++":
            out.append(sample_ddim_cfgpp(net, x, alpha_bars, c, knob_values(knob)["λ"]))
        elif sampler == "DDIM":
            out.append(sample_ddim(eps_function(method, knob, net, weak, t_first), x, alpha_bars, labels=c))
        else:
            out.append(sample_ddpm(eps_function(method, knob, net, weak, t_first), x, alpha_bars, labels=c,
                                   generator=noise))
        cpu += time.process_time() - c0
    return torch.cat(out), cpu


def plain_cfg_fid_at(fidelity: float, runs: dict) -> float | None:
    """Plain CFG's (DDPM) FID at this fidelity, linear between its measured settings (None outside them)."""
    points = sorted((r["fidelity"], r["fid"]) for key, r in runs.items() if key.startswith("plain CFG|")
                    and key.endswith("|DDPM"))
    for (f0, d0), (f1, d1) in zip(points[:-1], points[1:]):
        if f0 <= fidelity <= f1 and f1 > f0:
            return d0 + (fidelity - f0) / (f1 - f0) * (d1 - d0)
    return None


def evaluations(method: str, knob: str, steps: int) -> str:
    """Network evaluations per image and step, counted from the rule and the grid (exact, unlike CPU time)."""
    w = knob_values(knob).get("w")
    if method == "autoguidance":
        return "1 + 1 weak"
    if method == "plain CFG" and w == 1:
        return "1"
    if method == "interval":
        idx = torch.linspace(999, 0, steps).round().long()
        alpha_bars = ddpm_alpha_bars()[idx]
        t = (1 - alpha_bars) / alpha_bars
        inside = int(((t >= T_LO) & (t <= T_HI)).sum())
        return f"{(steps + inside) / steps:g}"
    if "zero-init" in knob:
        return f"{2 * (steps - 1) / steps:g}"
    return "2"


def table_rows(runs: dict, reference: dict, n: int, steps: int) -> list[list]:
    unguided = runs.get("plain CFG|w = 1|DDPM")
    rows = []
    for method, knob, sampler in SETTINGS:
        r = runs.get(f"{method}|{knob}|{sampler}")
        if r is None:
            continue
        se = math.sqrt(r["fidelity"] * (1 - r["fidelity"]) / n)
        plain = plain_cfg_fid_at(r["fidelity"], runs)
        vs = None if plain is None or (method == "plain CFG" and sampler == "DDPM") else r["fid"] - plain
        ratio = None if unguided is None else r["ms_per_step"] / unguided["ms_per_step"]
        rows.append([method, knob, sampler, r["fidelity"], se, r["fid"], r["fid_floor"], vs, r["precision"],
                     r["recall"], r["diversity"], r["sharpness"], evaluations(method, knob, steps), r["ms_per_step"],
                     ratio])
    rows.append(["real digits", "—", "—", None, None, reference["fid_floor"], reference["fid_floor"], None,
                 reference["precision"], reference["recall"], reference["diversity"], reference["sharpness"],
                 None, None, None])
    return rows


def verdict(runs: dict) -> str:
    """Which refinement beats plain CFG's (DDPM) best FID at equal or better fidelity."""
    plain = {k: r for k, r in runs.items() if k.startswith("plain CFG|") and k.endswith("|DDPM")}
    best_key, best = min(plain.items(), key=lambda kv: kv[1]["fid"])
    better = [f"{k} (fidelity {r['fidelity']:.3f}, FID {r['fid']:.3f})" for k, r in runs.items()
              if not k.startswith("plain CFG|") and r["fidelity"] >= best["fidelity"] and r["fid"] < best["fid"]]
    head = f"plain CFG's best FID (DDPM): {best_key}, FID {best['fid']:.3f} at fidelity {best['fidelity']:.3f}"
    return head + ("; beaten at equal or better fidelity by: " + "; ".join(better) if better else
                   "; no refinement beats it at equal or better fidelity")


def save_figure(runs: dict, path: Path) -> None:
    """FID against fidelity, one curve per method (in the order of SETTINGS)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    curves = {}
    for method, knob, sampler in SETTINGS:
        r = runs.get(f"{method}|{knob}|{sampler}")
        label = f"{method} ({sampler})" if method == "plain CFG" or (sampler == "DDIM" and method != "CFG++") \
            else method
        if r is not None and "r = " not in knob:
            label += " + zero-init" if "zero-init" in knob else ""
            curves.setdefault(label, []).append((r["fidelity"], r["fid"], knob.split(",")[0]))
    for label, points in curves.items():
        f, d, knobs = zip(*sorted(points))
        style = "--" if "DDIM" in label or label == "CFG++" else "-"
        line, = ax.plot(f, d, style, marker="o", label=label, lw=2.5 if label == "plain CFG (DDPM)" else 1.2)
        for x, y, k in points:
            ax.annotate(k.replace(" ", ""), (x, y), textcoords="offset points", xytext=(4, 3), fontsize=6,
                        color=line.get_color())
    floor = next(iter(runs.values()))["fid_floor"]
    ax.axhline(floor, color="grey", lw=0.8, ls=":", label=f"real-vs-real floor ({floor:.2f})")
    ax.set_xlabel("fidelity (judge's accuracy on the intended class)")
    ax.set_ylabel("FID (MNIST features)")
    ax.set_title("Refinements of CFG on mnist_cond: lower right is better")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(n: int, steps: int, only: list[str] | None, out_dir: Path, table_only: bool = False) -> None:
    torch.manual_seed(0)
    json_path = out_dir / f"{NAME}.json"
    old = json.loads(json_path.read_text())["meta"] if json_path.exists() else {}
    if table_only:                                   # re-render the table and figure from the saved runs
        if "fid_floor_seeds" not in old:             # how much FID moves at this n between draws of real digits
            clf = pretrained.load("mnist_classifier", device="cpu")
            old["fid_floor_seeds"] = {str(k): real_reference(clf, old["n"], generator=torch.Generator().manual_seed(k))
                                      .fid_floor for k in range(5)}
        print("real-vs-real FID at this n, reference seeds 0-4:",
              ", ".join(f"{v:.3f}" for v in old["fid_floor_seeds"].values()))
        save_table(NAME, COLUMNS, table_rows(old["runs"], old["reference"], old["n"], old["steps"]), meta=old,
                   directory=out_dir)
        save_figure(old["runs"], out_dir / f"{NAME}.png")
        print((out_dir / f"{NAME}.md").read_text())
        print(verdict(old["runs"]))
        return
    runs = old.get("runs", {}) if (old.get("n"), old.get("steps")) == (n, steps) else {}
    clf = pretrained.load("mnist_classifier", device="cpu")            # the judge, never a guide
    ref = real_reference(clf, n, generator=torch.Generator().manual_seed(0))
    reference = {"fid_floor": ref.fid_floor, "precision": ref.precision_floor, "recall": ref.recall_floor,
                 "diversity": ref.diversity, "sharpness": ref.sharpness}
    net = pretrained.load("mnist_cond", device="cpu")
    weak = pretrained.load("mnist_cond_weak", device="cpu") if "mnist_cond_weak" in pretrained.available() else None
    labels = torch.arange(n) % 10
    x_T = torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(1))   # the same start for all
    idx = torch.linspace(999, 0, steps).round().long()                             # the grid of ddpm_samples
    alpha_bars = torch.cat([ddpm_alpha_bars()[idx], torch.ones(1, dtype=torch.float64)])
    print(f"{n} digits per setting, {steps} steps, {config.describe()}, threads {torch.get_num_threads()}",
          flush=True)
    for method, knob, sampler in RUN_ORDER:
        key = f"{method}|{knob}|{sampler}"
        if key in runs or (only and method not in only):
            continue
        if method == "autoguidance" and weak is None:
            print(f"{key}: mnist_cond_weak is not shipped yet; skipped", flush=True)
            continue
        wall = time.perf_counter()
        x, cpu = sample(method, knob, sampler, net, weak, x_T, labels, alpha_bars)
        report = conditional_report(clf, x, labels, ref)
        report["ms_per_step"] = 1e3 * cpu / (n * steps)
        runs[key] = report
        print(f"{key}: fidelity {report['fidelity']:.3f}, FID {report['fid']:.3f}, recall {report['recall']:.3f}, "
              f"{report['ms_per_step']:.2f} ms/image/step ({time.perf_counter() - wall:.0f} s)", flush=True)
        meta = {"command": f"OMP_NUM_THREADS=1 python benchmarks/bench_refinements.py --n {n} --steps {steps}",
                "model": "mnist_cond (autoguidance: guided by mnist_cond_weak)", "n": n, "steps": steps,
                "start noise": "seed 1 (one x_T for every setting)", "DDPM noise": "seed 2",
                "real reference": "seed 0", "judge": "mnist_classifier", "threads": torch.get_num_threads(),
                "date": datetime.date.today().isoformat(), "reference": reference, "runs": runs}
        save_table(NAME, COLUMNS, table_rows(runs, reference, n, steps), meta=meta, directory=out_dir)
        save_figure(runs, out_dir / f"{NAME}.png")
    print((out_dir / f"{NAME}.md").read_text())
    print(verdict(runs))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="digits per setting, a multiple of 10, at most 500")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--only", nargs="+", default=None, help="run only these methods (e.g. 'plain CFG')")
    parser.add_argument("--table-only", action="store_true", help="only re-render the saved runs")
    parser.add_argument("--directory", type=Path, default=ROOT / "book" / "results", help="where the table goes")
    args = parser.parse_args()
    if args.n % 10 or not 10 <= args.n <= 500:
        raise ValueError(f"--n must be a multiple of 10 in [10, 500], got {args.n}")
    main(args.n, args.steps, args.only, args.directory, args.table_only)
