"""The judge ``mnist_classifier`` is never a guide (book: "Classifier guidance"; ``tempguide.metrics.guided``).

Fidelity, FID, precision/recall and diversity of the guidance chapters are all
measured with the evaluation classifier ``mnist_classifier``.  Guiding with it
would grade the sampler with its own teacher: the gradient ascends exactly the
classifier that then scores the samples, so fidelity would be inflated by
adversarial pixels rather than by better digits.  Three checks:

1. **Runtime, library**: every public function of ``tempguide.guidance`` runs on small
   inputs while ``tempguide.pretrained.load`` is replaced by a recorder and the
   judge's ``forward`` raises: no guidance code path loads or calls any checkpoint.
2. **Runtime, benchmark**: ``benchmarks/bench_classifier_guidance.py``'s sample
   generation, for every kind of setting, loads only allowed models (diffusion
   models and the two guides) and never runs the judge.
3. **Static**: no file of ``src/tempguide/guidance`` names the judge outside its
   docstrings or imports ``pretrained``; in the guidance notebooks (``notebooks/3*.ipynb``)
   no argument of a ``tempguide.guidance`` call is derived from the judge (a taint
   followed through the cells in order, started at ``pretrained.load("mnist_classifier")``
   and at any load of a name that is not a string literal).  The scanner is itself
   tested on a violation.
"""
from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import nbformat
import pytest
import torch

import tempguide.guidance as guidance
from tempguide import pretrained, toy
from tempguide.diffusion.adapters import denoiser_from_eps
from tempguide.diffusion.schedules import ddpm_alpha_bars
from tempguide.models import MnistClassifier, MnistClassifierConfig, NoisyClassifier, NoisyClassifierConfig
from tempguide.models import UNet, UNetConfig

ROOT = Path(__file__).resolve().parents[1]
JUDGE = "mnist_classifier"
ALLOWED = {"mnist_uncond", "mnist_cond", "mnist_cond_p05", "mnist_cond_p50", "mnist_cond_blurry", "toy_2d",
           "mnist_noisy_classifier", "mnist_clean_classifier"}


def tiny_model(name: str) -> torch.nn.Module:
    """A small random stand-in for the checkpoint ``name`` (same class and call convention)."""
    torch.manual_seed(0)
    if name in ("mnist_uncond", "mnist_cond"):
        num_classes = 10 if name == "mnist_cond" else None
        return UNet(UNetConfig(channels=(8, 8, 8), emb_dim=16, groups=4, attention=False,
                               num_classes=num_classes)).eval()
    if name in ("mnist_noisy_classifier", "mnist_clean_classifier"):
        return NoisyClassifier(NoisyClassifierConfig(channels=(8, 8, 8), emb_dim=16, groups=4)).eval()
    if name == JUDGE:
        return MnistClassifier(MnistClassifierConfig(channels=(8, 8, 8), feature_dim=8, groups=4)).eval()
    raise pretrained.CheckpointError(f"no tiny stand-in for {name!r}")


@pytest.fixture
def loads(monkeypatch):
    """Names passed to ``pretrained.load`` (which returns tiny stand-ins); the judge's forward raises."""
    names = []

    def fake_load(name, *, device=None, directory=None):
        names.append(name)
        return tiny_model(name)

    def judge_forward(self, *args, **kwargs):
        raise AssertionError("the judge mnist_classifier was run inside a guidance code path")

    monkeypatch.setattr(pretrained, "load", fake_load)
    monkeypatch.setattr(MnistClassifier, "forward", judge_forward)
    return names


# -- 1. every public function of tempguide.guidance ----------------------------------------------

def _guidance_calls():
    """One small call of every public function of ``tempguide.guidance`` (name -> thunk)."""
    unet = tiny_model("mnist_uncond")
    cond = tiny_model("mnist_cond")
    clf = tiny_model("mnist_noisy_classifier")
    x = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    c, t = torch.tensor([0, 3, 7, 9]), torch.tensor(0.5)
    lp = guidance.noise_aware_log_prob(clf)
    lp_clean = guidance.clean_log_prob(clf)
    denoiser = denoiser_from_eps(unet)
    mix = toy.mixture_1d()
    alpha_bars = torch.cat([ddpm_alpha_bars()[[999, 500, 0]], torch.ones(1, dtype=torch.float64)])
    return {
        "cfg": lambda: guidance.cfg(x, 2 * x, 2.0),
        "cfg_denoiser": lambda: guidance.cfg_denoiser(cond, c, 2.0)(x, t),
        "cfg_denoisers": lambda: guidance.cfg_denoisers(denoiser, denoiser_from_eps(cond, c), 2.0)(x, t),
        "cfg_eps": lambda: guidance.cfg_eps(cond, 2.0)(x, t, c),
        "classifier_gradient": lambda: guidance.classifier_gradient(lp, x, t, c),
        "classifier_guided": lambda: guidance.classifier_guided(denoiser, lp, c, 2.0)(x, t),
        "classifier_guided_x0": lambda: guidance.classifier_guided_x0(denoiser, lambda y: lp(y, 1e-4), c, 2.0)(x, t),
        "clean_log_prob": lambda: lp_clean(x, t),
        "noise_aware_log_prob": lambda: lp(x, t),
        "eps_classifier_guided": lambda: guidance.eps_classifier_guided(unet, lp, 2.0)(x, t, c),
        "sample_ddpm_mean_shift": lambda: guidance.sample_ddpm_mean_shift(
            lambda x_, t_, labels=None: unet(x_, t_), x, alpha_bars, lp, c, 2.0,
            generator=torch.Generator().manual_seed(1)),
        "tilted_log_density": lambda: guidance.tilted_log_density(
            mix, torch.linspace(-3, 3, 7, dtype=torch.float64)[:, None], 0, 2.0),
        "tilted_probabilities": lambda: guidance.tilted_probabilities(
            mix, torch.linspace(-3, 3, 7, dtype=torch.float64)[:, None], 0, 2.0),
        "GaussianPair": lambda: guidance.GaussianPair(1.0, 0.5, 0.0, 1.0).conditional.denoise(
            x.flatten(1)[:, :1].double(), 0.5),
        "cfg_law": lambda: torch.as_tensor(guidance.cfg_law(guidance.GaussianPair(1.0, 0.5, 0.0, 1.0), 2.0)[1]),
    }


def test_public_guidance_functions_are_exercised():
    """Every name in ``_guidance_calls`` is public; public names without a call are covered by the static scan (3)."""
    assert set(_guidance_calls()) <= set(guidance.__all__)
    assert {"classifier_guided", "classifier_guided_x0", "eps_classifier_guided", "cfg_eps"} <= set(_guidance_calls())


@pytest.mark.parametrize("name", sorted(set(guidance.__all__) & set(_guidance_calls())))
def test_guidance_function_loads_no_checkpoint(name, loads):
    out = _guidance_calls()[name]()
    assert torch.isfinite(out).all()
    assert loads == [], f"tempguide.guidance.{name} loaded checkpoints {loads}: guidance receives its models"


# -- 2. the benchmark's sample generation ---------------------------------------------------------

def _benchmark():
    path = ROOT / "benchmarks" / "bench_classifier_guidance.py"
    spec = importlib.util.spec_from_file_location("bench_classifier_guidance", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_guides_are_not_the_judge():
    assert JUDGE not in _benchmark().GUIDES.values()
    assert set(_benchmark().GUIDES.values()) <= ALLOWED


@pytest.mark.parametrize("setting", [("zt", "noise-aware", 2.0), ("zt", "clean", 2.0), ("x0", "clean", 2.0),
                                     ("x0", "noise-aware", 2.0), ("cond", "", 0.0)])
def test_benchmark_sampling_never_uses_the_judge(setting, loads):
    samples = _benchmark().sample_setting(setting, 10, 2, progress=False)
    assert samples.shape == (10, 1, 28, 28) and torch.isfinite(samples).all()
    assert loads and set(loads) <= ALLOWED, f"setting {setting} loaded {loads}"


def test_benchmark_gradient_ascent_never_uses_the_judge(loads):
    bench = _benchmark()
    x, c = torch.zeros(2, 1, 28, 28), torch.tensor([1, 2])
    for guide in bench.GUIDES:
        bench.gradient_ascent(guide, x, c, t=1.0, iters=1)
    assert set(loads) <= ALLOWED, loads


# -- 3. static scans ------------------------------------------------------------------------------

def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


@pytest.mark.parametrize("path", sorted((ROOT / "src" / "tempguide" / "guidance").glob("*.py")),
                         ids=lambda p: p.name)
def test_guidance_sources_do_not_name_the_judge(path):
    tree = ast.parse(path.read_text())
    docstrings = _docstring_nodes(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            assert JUDGE not in node.value, f"{path.name}:{node.lineno} names the judge in code"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            assert not any("pretrained" in n for n in names), f"{path.name}:{node.lineno} imports pretrained"
        if isinstance(node, ast.Name):
            assert node.id != "MnistClassifier", f"{path.name}:{node.lineno} uses the judge's class"


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _target_names(target: ast.AST) -> set[str]:
    """Names an assignment target binds: ``a``, ``a, b``; for ``a[i]`` or ``a.x`` the base ``a`` (not ``i``)."""
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        return set().union(*(_target_names(e) for e in target.elts)) if target.elts else set()
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    if isinstance(target, (ast.Subscript, ast.Attribute)):
        return _target_names(target.value)
    return set()


def _is_load(call: ast.AST) -> bool:
    return isinstance(call, ast.Call) and (
        (isinstance(call.func, ast.Attribute) and call.func.attr == "load"
         and isinstance(call.func.value, ast.Name) and call.func.value.id == "pretrained")
        or (isinstance(call.func, ast.Name) and call.func.id == "load"))


def _judge_loads(node: ast.AST) -> bool:
    """Does ``node`` contain a load of the judge, or of a name that is not a string literal?"""
    for call in ast.walk(node):
        if _is_load(call):
            first = call.args[0] if call.args else None
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)) or first.value not in ALLOWED:
                return True
    return False


def _guidance_call_violations(node: ast.AST, tainted: set[str]) -> list[str]:
    """Guidance calls inside ``node`` (not inside nested statements' later bindings) with a tainted argument."""
    out = []
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)
            if name in guidance.__all__:
                args = list(call.args) + [k.value for k in call.keywords]
                bad = [ast.unparse(a) for a in args if _judge_loads(a) or _names(a) & tainted]
                if bad:
                    out.append(f"line {call.lineno}: {name}(...) gets {bad}, derived from the judge")
    return out


def _touches_judge(value: ast.AST, tainted: set[str]) -> bool:
    return _judge_loads(value) or bool(_names(value) & tainted)


def _bind(targets: list[ast.AST], value_tainted: bool, tainted: set[str]) -> None:
    """A plain name is rebound (tainted or cleared); ``a[i] = …`` / ``a.x = …`` can only add taint to ``a``."""
    for target in targets:
        if isinstance(target, ast.Name):
            (tainted.add if value_tainted else tainted.discard)(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            _bind(list(target.elts), value_tainted, tainted)
        elif isinstance(target, ast.Starred):
            _bind([target.value], value_tainted, tainted)
        elif value_tainted:
            tainted |= _target_names(target)


def _scan(statements: list[ast.stmt], tainted: set[str], violations: list[str]) -> None:
    """Statements in order (cells run top to bottom), loop bodies twice: a flow-sensitive taint."""
    for st in statements:
        if isinstance(st, (ast.For, ast.AsyncFor)):
            violations += _guidance_call_violations(st.iter, tainted)
            for _ in range(2):
                _bind([st.target], _touches_judge(st.iter, tainted), tainted)
                _scan(st.body + st.orelse, tainted, violations)
        elif isinstance(st, ast.While):
            for _ in range(2):
                _scan(st.body + st.orelse, tainted, violations)
        elif isinstance(st, ast.If):
            violations += _guidance_call_violations(st.test, tainted)
            _scan(st.body + st.orelse, tainted, violations)
        elif isinstance(st, (ast.With, ast.AsyncWith)):
            for item in st.items:
                violations += _guidance_call_violations(item.context_expr, tainted)
                if item.optional_vars is not None:
                    _bind([item.optional_vars], _touches_judge(item.context_expr, tainted), tainted)
            _scan(st.body, tainted, violations)
        elif isinstance(st, ast.Try):
            _scan(st.body + [h for hd in st.handlers for h in hd.body] + st.orelse + st.finalbody, tainted, violations)
        elif isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
            _bind([ast.Name(st.name)], _touches_judge(st, tainted), tainted)
            _scan(st.body, set(tainted), violations)
        else:  # a simple statement: check its calls, then apply its bindings
            violations += _guidance_call_violations(st, tainted)
            if isinstance(st, ast.Assign):
                _bind(st.targets, _touches_judge(st.value, tainted), tainted)
            elif isinstance(st, (ast.AnnAssign, ast.AugAssign)) and st.value is not None:
                _bind([st.target], _touches_judge(st.value, tainted)
                      or (isinstance(st, ast.AugAssign) and bool(_target_names(st.target) & tainted)), tainted)


def judge_guidance_violations(source: str) -> list[str]:
    """Calls of ``tempguide.guidance`` functions with an argument derived from the judge (module docstring, 3)."""
    violations: list[str] = []
    _scan(ast.parse(source).body, set(), violations)
    return violations


def notebook_source(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    cells = ["\n".join(line for line in c.source.splitlines() if not re.match(r"\s*[%!]", line))
             for c in nb.cells if c.cell_type == "code"]
    return "\n\n".join(cells)


def test_scanner_finds_a_judge_used_as_guide():
    bad = """
from tempguide import pretrained
from tempguide.guidance import eps_classifier_guided, noise_aware_log_prob
unet = pretrained.load("mnist_uncond")
judge = pretrained.load("mnist_classifier").to(device)
log_prob = noise_aware_log_prob(judge)
net = eps_classifier_guided(unet, log_prob, 2.0)
"""
    assert len(judge_guidance_violations(bad)) == 2      # both calls
    via_name = bad.replace('pretrained.load("mnist_classifier")', 'pretrained.load(NAME)')
    assert judge_guidance_violations(via_name)            # a name we cannot check counts as the judge
    inline = 'g = guidance.clean_log_prob(pretrained.load("mnist_classifier"))'
    assert judge_guidance_violations(inline)
    renamed = bad.replace("log_prob = noise_aware_log_prob(judge)", "g = judge\nlog_prob = noise_aware_log_prob(g)")
    assert len(judge_guidance_violations(renamed)) == 2   # taint follows assignments
    good = bad.replace('"mnist_classifier"', '"mnist_noisy_classifier"')
    assert judge_guidance_violations(good) == []
    indexed = good + "\nscores[gamma] = conditional_report(judge_net, x, c, ref)\nlp = noise_aware_log_prob(scores)\n"
    assert judge_guidance_violations(indexed.replace("judge_net", 'pretrained.load("mnist_classifier")')) == [
        'line 10: noise_aware_log_prob(...) gets [\'scores\'], derived from the judge']   # the index is not tainted
    scoring = good + "\nreport = conditional_report(pretrained.load('mnist_classifier'), samples, c, ref)\n"
    assert judge_guidance_violations(scoring) == []       # the judge may score


GUIDANCE_NOTEBOOKS = sorted((ROOT / "notebooks").glob("3[0-9]_*.ipynb"))


def test_notebook_31_is_scanned():
    assert any(p.name.startswith("31_") for p in GUIDANCE_NOTEBOOKS)


@pytest.mark.parametrize("path", GUIDANCE_NOTEBOOKS, ids=lambda p: p.name)
def test_guidance_notebooks_guide_with_allowed_models(path):
    assert judge_guidance_violations(notebook_source(path)) == []
