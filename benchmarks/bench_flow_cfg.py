"""CFG on a flow-matching model beside CFG on the diffusion model, on MNIST (book: "Flow matching with guidance").

For every w in ``--ws`` and ``--n`` digits (classes ``arange(n) % 10``):

- ``mnist_fm`` (class-conditional velocity UNet, null label 10): ``--steps`` Euler steps of
  dx/dτ = ũ(x, τ) on a uniform τ grid from 0 to 1 (MIT 6.S184 lab 3's sampler), with
  ũ = (1 − w)·u(x | ∅) + w·u(x | c) = ``cfg_velocity_net(net, w)``, from x₀ ~ N(0, I);
- ``mnist_cond`` (the ε-UNet of chapter 4, same architecture, data and training steps):
  ``--steps`` DDPM ancestral steps with ``cfg_eps(net, w)`` (chapter 4's sampler) and
  ``--steps`` DDIM steps (η = 0: the ODE, Euler in σ, the counterpart of the flow's Euler in τ).

Same network evaluations per sample for all three (``--steps``, at batch 2B when w ≠ 1; at
w = 1 the guided network *is* the conditional one and is called once).  Every setting
starts from the same seed (generator seeded with 1).  Each sample set is scored by
``tempguide.metrics.guided.conditional_report`` — the evaluation classifier
``mnist_classifier``, never a guide — against ``n`` real test digits (``real_reference``,
seed 0, with its own floor).  Rows are saved after every setting into
``book/results/flow_cfg_mnist.{json,md}`` (``tempguide.metrics.tables.save_table``), so a
cut run keeps what it measured, and a later run at the same n and steps adds its settings
(``--settings``) and weights to the table.  At the end the manifest metrics of ``mnist_fm`` at w = 1
(``tempguide.train.evaluate``'s definitions) are printed.

    OMP_NUM_THREADS=1 python benchmarks/bench_flow_cfg.py --n 300 --steps 50 --ws 1 3 5 --settings fm ddpm
    OMP_NUM_THREADS=1 python benchmarks/bench_flow_cfg.py --n 300 --steps 50 --ws 1 3 --settings ddim

Cost: about 2.3 ms of one idle core per image and network call, so one guided setting of
300 digits × 50 steps takes about 70 s (several times longer on a loaded machine).
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
from tempguide.data import load_mnist
from tempguide.diffusion import sample_ddim
from tempguide.diffusion.schedules import ddpm_alpha_bars
from tempguide.flow import cfg_velocity_net, sample_euler, tau_grid
from tempguide.guidance import cfg_eps
from tempguide.metrics import image
from tempguide.metrics.guided import conditional_report, real_reference
from tempguide.metrics.tables import save_table
from tempguide.train.evaluate import ddpm_samples

ROOT = Path(__file__).resolve().parents[1]
NAME = "flow_cfg_mnist"
COLUMNS = ["model, sampler", "w", "fidelity", "± s.e.", "FID", "FID floor", "precision", "recall", "diversity",
           "sharpness"]
KEYS = ["fidelity", "fid", "fid_floor", "precision", "recall", "diversity", "sharpness"]
BATCH = 100


def guided(net, w: float, make):
    """The CFG wrapper ``make(net, w)``, except at w = 1 where it equals the conditional network itself."""
    return net if w == 1 else make(net, w)


@torch.no_grad()
def flow_samples(net, w: float, labels: torch.Tensor, steps: int) -> torch.Tensor:
    """Euler in τ on ũ = (1 − w)u(x|∅) + w·u(x|c), from x₀ ~ N(0, I) (generator seeded with 1)."""
    u_w, g, taus, out = guided(net, w, cfg_velocity_net), torch.Generator().manual_seed(1), tau_grid(steps), []
    for start in range(0, len(labels), BATCH):
        c = labels[start:start + BATCH]
        x0 = torch.randn(len(c), 1, 28, 28, generator=g)
        out.append(sample_euler(lambda x, tau: u_w(x, tau, c), x0, taus))
    return torch.cat(out)


@torch.no_grad()
def ddim_samples(net, w: float, labels: torch.Tensor, steps: int) -> torch.Tensor:
    """DDIM (η = 0) with cfg_eps on ``steps`` strided DDPM levels, as ``ddpm_samples`` strides them."""
    eps_w, g, out = guided(net, w, cfg_eps), torch.Generator().manual_seed(1), []
    idx = torch.linspace(999, 0, steps).round().long()
    alpha_bars = torch.cat([ddpm_alpha_bars()[idx], torch.ones(1, dtype=torch.float64)])
    for start in range(0, len(labels), BATCH):
        c = labels[start:start + BATCH]
        x = torch.randn(len(c), 1, 28, 28, generator=g)
        out.append(sample_ddim(eps_w, x, alpha_bars, labels=c))
    return torch.cat(out)


def sample(setting: str, nets: dict, w: float, labels: torch.Tensor, steps: int) -> torch.Tensor:
    if setting.startswith("mnist_fm"):
        return flow_samples(nets["mnist_fm"], w, labels, steps)
    if ", DDIM" in setting:
        return ddim_samples(nets["mnist_cond"], w, labels, steps)
    return ddpm_samples(guided(nets["mnist_cond"], w, cfg_eps), len(labels), labels=labels, n_steps=steps,
                        generator=torch.Generator().manual_seed(1), progress=False)


def table_rows(results: dict, settings: list[str], reference, n: int) -> list[list]:
    rows = []
    for setting in settings:
        for w in sorted(results.get(setting, {}), key=float):
            r = results[setting][w]
            se = math.sqrt(r["fidelity"] * (1 - r["fidelity"]) / n)
            rows.append([setting, w] + [r["fidelity"], se] + [r[k] for k in KEYS[1:]])
    rows.append(["real test digits", None, None, None, reference.fid_floor, reference.fid_floor,
                 reference.precision_floor, reference.recall_floor, reference.diversity, reference.sharpness])
    return rows


def manifest_metrics(clf, samples: torch.Tensor, labels: torch.Tensor, n: int, steps: int) -> dict:
    """``tempguide.train.evaluate.sample_metrics``'s definitions, for the w = 1 flow samples."""
    g = torch.Generator().manual_seed(0)
    test_x, _ = load_mnist("test", source="subset", verbose=False)
    train_x, _ = load_mnist("train", source="subset", verbose=False)
    real = train_x[torch.randperm(len(train_x), generator=g)[:n]]
    samples = samples.clamp(-1, 1)
    return {"sample_n": n, "sample_steps": steps, "sample_sampler": f"Euler in tau, {steps} steps",
            "sample_accuracy": round(image.accuracy(clf, samples, labels), 5),
            "sample_fid": round(image.fid(clf, samples, test_x), 5),
            "fid_floor_real": round(image.fid(clf, real, test_x), 5),
            "sample_sharpness": round(image.sharpness(samples).mean().item(), 5),
            "real_sharpness": round(image.sharpness(test_x).mean().item(), 5),
            "sample_diversity": round(image.diversity(clf, samples), 5),
            "real_diversity": round(image.diversity(clf, test_x), 5)}


def load_previous(n: int, steps: int) -> tuple[dict, dict, list]:
    """Rows, timings and commands of an earlier run at the same n and steps (this run adds to them)."""
    path = ROOT / "book" / "results" / f"{NAME}.json"
    if not path.exists():
        return {}, {}, []
    data = json.loads(path.read_text())
    if (data["meta"].get("n"), data["meta"].get("steps")) != (n, steps):
        return {}, {}, []
    results = {}
    for setting, w, fidelity, _, *rest in data["rows"]:
        if w is not None:
            results.setdefault(setting, {})[w] = dict(zip(KEYS, [fidelity] + rest))
    commands = data["meta"]["command"]
    return results, data["meta"].get("seconds", {}), commands if isinstance(commands, list) else [commands]


@torch.no_grad()
def main(n: int, steps: int, ws: list[float], chosen: list[str], save: bool) -> None:
    torch.manual_seed(0)
    clf = pretrained.load("mnist_classifier", device="cpu")            # the judge, never a guide
    reference = real_reference(clf, n, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(n) % 10
    nets = {name: pretrained.load(name, device="cpu").eval() for name in ("mnist_fm", "mnist_cond")}
    names = {"fm": f"mnist_fm, Euler in τ ({steps} steps)", "ddpm": f"mnist_cond, DDPM ({steps} steps)",
             "ddim": f"mnist_cond, DDIM ({steps} steps)"}
    settings = list(names.values())                                   # the table's order
    print(f"{n} digits per setting ({n // 10} per class), {steps} network evaluations per sample, same seed "
          f"for every setting; {config.describe()}, threads {torch.get_num_threads()}", flush=True)
    results, seconds, commands = load_previous(n, steps) if save else ({}, {}, [])
    commands.append(f"OMP_NUM_THREADS=1 python benchmarks/bench_flow_cfg.py --n {n} --steps {steps} --ws "
                    + " ".join(f"{w:g}" for w in ws) + " --settings " + " ".join(chosen))
    meta = {"command": commands, "n": n, "steps": steps,
            "seed": "samples: generator seed 1 for every setting; real digits: seed 0",
            "judge": "mnist_classifier (never a guide)", "reference": f"{n} real test digits, floor from {n} others",
            "date": datetime.date.today().isoformat(), "seconds": seconds}
    unguided_fm = None
    for w in ws:
        for key in chosen:
            setting, w_key = names[key], f"{w:g}"
            if w_key in results.get(setting, {}) and not (key == "fm" and w == 1):
                print(f"  {setting}, w = {w_key}: measured already", flush=True)
                continue
            start = time.perf_counter()
            x = sample(setting, nets, w, labels, steps).clamp(-1, 1)
            results.setdefault(setting, {})[w_key] = conditional_report(clf, x, labels, reference)
            seconds[f"{setting}, w = {w_key}"] = round(time.perf_counter() - start, 1)
            if key == "fm" and w == 1:
                unguided_fm = x
            r = results[setting][w_key]
            print(f"  {setting}, w = {w_key}: fidelity {r['fidelity']:.3f}, FID {r['fid']:.2f}, recall "
                  f"{r['recall']:.3f}, diversity {r['diversity']:.2f}  ({seconds[f'{setting}, w = {w_key}']:.0f} s)",
                  flush=True)
            if save:                                          # after every setting: a cut run keeps its rows
                save_table(NAME, COLUMNS, table_rows(results, settings, reference, n), meta=meta,
                           directory=ROOT / "book" / "results")
    rows = table_rows(results, settings, reference, n)
    print("\n| " + " | ".join(COLUMNS) + " |\n" + "|---" * len(COLUMNS) + "|")
    for row in rows:
        print("| " + " | ".join("—" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)
                                for v in row) + " |")
    if unguided_fm is not None:
        print("\nmnist_fm manifest metrics (w = 1, no guidance):")
        print(json.dumps(manifest_metrics(clf, unguided_fm, labels, n, steps), indent=1))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="digits per setting, a multiple of 10, at most 500")
    parser.add_argument("--steps", type=int, default=50, help="network evaluations per sample")
    parser.add_argument("--ws", type=float, nargs="+", default=[1, 3, 5, 0, 2])
    parser.add_argument("--settings", nargs="+", default=["fm", "ddpm", "ddim"], choices=["fm", "ddpm", "ddim"],
                        help="mnist_fm with Euler; mnist_cond with DDPM; mnist_cond with DDIM")
    parser.add_argument("--no-save", action="store_true", help="print only; do not write book/results")
    args = parser.parse_args()
    if args.n % 10 or not 10 <= args.n <= 500:
        raise ValueError(f"--n must be a multiple of 10 in [10, 500], got {args.n}")
    main(args.n, args.steps, args.ws, args.settings, not args.no_save)
