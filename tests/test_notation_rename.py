"""The network input is z̄ = z/√(1+t) (``z_bar``), never ``x``: the book keeps x for the condition.

Issue 17, part 4.  Three guards:

1. Every function in ``src/tempguide`` (methods and closures included) that takes a parameter
   named ``x`` is listed below with what its x is; none of them is the DDPM-scaled point.  A new
   ``x`` parameter fails the test until someone decides which symbol it is (book: "Notation").
2. The renamed public functions take ``z_bar``; the old keyword ``x`` still works, gives the same
   result as ``z_bar`` and warns with a DeprecationWarning that names ``z_bar``; both at once is a
   TypeError.
3. The book's own prose (pages and notebooks' markdown) never calls the network input x again
   (``x = z/\\sqrt{1+t}``).
"""
import ast
import inspect
import json
import pathlib
import re

import pytest
import torch

from tempguide import toy
from tempguide.clip.model import Clip, ClipConfig
from tempguide.clip.zero_shot import caption_log_probs
from tempguide.diffusion import sample_ddim, sample_ddpm
from tempguide.diffusion.adapters import eps_from_denoiser
from tempguide.guidance.cfgpp import sample_ddim_cfgpp
from tempguide.guidance.ddpm import sample_ddpm_mean_shift
from tempguide.guidance.refinement_laws import ExactEpsNet
from tempguide.models.attribute_unet import AttributeUNet, AttributeUNetConfig
from tempguide.models.classifier import NoisyClassifier, NoisyClassifierConfig
from tempguide.models.mlp import MLP, MLPConfig
from tempguide.models.sr_unet import SRUNet, SRUNetConfig, UNet14, UNet14Config
from tempguide.models.unet import UNet, UNetConfig

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "tempguide"

#: (module, qualified name) -> what its ``x`` is.  None of these is the DDPM-scaled network input.
X_IS_SOMETHING_ELSE = {
    **{("cascade/resample.py", f): "a low-resolution image, the condition of super-resolution (seed 002's x)"
       for f in ("_check", "up", "up_nearest", "consistency")},
    ("cascade/sr3.py", "augment_condition"): "the low-resolution conditioning image",
    **{(m, f): "any value to print" for m, f in (("checks/_core.py", "_fmt_tensor"), ("checks/_core.py", "_fmt"),
                                                  ("checks/clip.py", "_fmt_small"), ("checks/lm.py", "_fmt"))},
    ("diffusion/_checks.py", "check_finite"): "any tensor to check, named by the caller",
    **{("flow/convert.py", f): "MIT's flow state x_τ = τ·z (book: Notation, flow-matching time)"
       for f in ("velocity_from_score.<locals>.velocity", "score_from_velocity.<locals>.score",
                 "velocity_from_denoiser.<locals>.velocity", "x1_from_velocity", "x0_from_velocity")},
    **{(m, f): "MIT's flow state x_τ" for m, f in (
        ("flow/exact.py", "score"), ("flow/exact.py", "log_prob"), ("flow/path.py", "_per_example"),
        ("flow/path.py", "conditional_velocity"), ("flow/samplers.py", "sample_euler"),
        ("flow/samplers.py", "sample_heun"), ("models/flow_unet.py", "FlowUNet.forward"))},
    ("guidance/refinement_laws.py", "_normal_cdf"): "a real number",
    **{("models/char_gpt.py", f): "hidden states (B, L, C)" for f in ("CausalSelfAttention.forward", "Block.forward")},
    ("models/sr_unet.py", "_check_shape"): "any image tensor, named by the caller",
    **{("models/unet.py", f): "feature maps inside the UNet" for f in ("ResBlock.forward", "SelfAttention.forward")},
    **{("mvae/cold.py", f): "the condition (McAllester's x)" for f in ("sample_cold", "class_gaussian_codes")},
    **{("mvae/generate.py", f): "the condition (McAllester's x)"
       for f in ("_predict", "generate_unadjusted", "generate_tempered")},
    ("mvae/linear_gaussian.py", "as_callables.<locals>.make.<locals>.decoder"): "the condition",
    ("mvae/linear_gaussian.py", "example"): "the condition",
    **{("mvae/pyramid.py", f): "the condition (class labels)" for f in (
        "PyramidDecoders.labels", "PyramidDecoders.forward", "PyramidDecoders.level_residuals",
        "pyramid_loss", "fit_level_sigmas")},
    ("mvae/pyramid_blur.py", "decode_means"): "the condition (class labels)",
}


def functions_with_parameter(name: str):
    """(module, qualified name) of every def in the package (homework excluded) with a parameter ``name``."""
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).as_posix()
        if module.startswith("homework/"):
            continue

        def walk(node, prefix):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.ClassDef):
                    walk(child, f"{prefix}{child.name}.")
                elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    a = child.args
                    if name in [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]:
                        found.add((module, f"{prefix}{child.name}"))
                    walk(child, f"{prefix}{child.name}.<locals>.")
                else:
                    walk(child, prefix)
        walk(ast.parse(path.read_text(encoding="utf-8")), "")
    return found


def test_every_parameter_named_x_is_a_known_non_network_input():
    found = functions_with_parameter("x")
    unknown = sorted(found - set(X_IS_SOMETHING_ELSE))
    assert not unknown, (f"{unknown} take a parameter 'x': if it is the DDPM-scaled point z/√(1+t) name it "
                         "'z_bar' (book: Notation), otherwise add it to X_IS_SOMETHING_ELSE with its meaning")
    stale = sorted(set(X_IS_SOMETHING_ELSE) - found)
    assert not stale, f"{stale} no longer take 'x': remove them from X_IS_SOMETHING_ELSE"


def test_the_scan_sees_closures_and_methods():
    found = functions_with_parameter("z_bar")
    for expected in [("diffusion/ddpm.py", "sample_ddpm"), ("models/unet.py", "UNet.forward"),
                     ("guidance/cfg.py", "cfg_eps.<locals>.eps_w"), ("diffusion/adapters.py", "eps_from_denoiser.<locals>.net")]:
        assert expected in found


# ---- the deprecated keyword ---------------------------------------------------------------------
MIX = toy.mixture_1d()
ALPHA_BARS = torch.tensor([0.05, 0.3, 0.7, 1.0], dtype=torch.float64)
Z0 = torch.linspace(-3.0, 3.0, 6, dtype=torch.float64).reshape(-1, 1)


def _net(cls, config, **kw):
    """A small network with random weights everywhere (the UNets start with a zero output layer)."""
    torch.manual_seed(0)
    net = cls(config(**kw)).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.2)
    return net


def _clip():
    return _net(Clip, ClipConfig)


def _log_prob(z, t):
    return MIX.class_posterior(z, t).log()


# name -> f(keyword, value): the call with the start point passed by that keyword
CALLS = {
    "sample_ddpm": lambda k, v: sample_ddpm(eps_from_denoiser(MIX.denoise), alpha_bars=ALPHA_BARS,
                                            generator=torch.Generator().manual_seed(1), **{k: v}),
    "sample_ddim": lambda k, v: sample_ddim(eps_from_denoiser(MIX.denoise), alpha_bars=ALPHA_BARS, **{k: v}),
    "sample_ddpm_mean_shift": lambda k, v: sample_ddpm_mean_shift(
        eps_from_denoiser(MIX.denoise), alpha_bars=ALPHA_BARS, log_prob=_log_prob,
        labels=torch.zeros(len(v), dtype=torch.long), gamma=2.0, generator=torch.Generator().manual_seed(1), **{k: v}),
    "sample_ddim_cfgpp": lambda k, v: sample_ddim_cfgpp(ExactEpsNet(MIX), alpha_bars=ALPHA_BARS,
                                                        labels=torch.ones(len(v), dtype=torch.long), lam=0.5, **{k: v}),
    "ExactEpsNet.__call__": lambda k, v: ExactEpsNet(MIX)(t=0.7, labels=torch.tensor([0, 1, 2, 0, 1, 2]), **{k: v}),
}
IMAGE = torch.linspace(-1, 1, 2 * 28 * 28).reshape(2, 1, 28, 28)
MODULE_CALLS = {
    "UNet.forward": (lambda: _net(UNet, UNetConfig, channels=(8, 8, 16), emb_dim=16, num_classes=10),
                     IMAGE, dict(t=torch.tensor(0.5), labels=torch.tensor([1, 10]))),
    "AttributeUNet.forward": (lambda: _net(AttributeUNet, AttributeUNetConfig, channels=(8, 8, 16), emb_dim=16),
                              IMAGE, dict(t=torch.tensor(0.5), E=torch.tensor([0.3, float("nan")]))),
    "MLP.forward": (lambda: _net(MLP, MLPConfig, dim=2, num_classes=3),
                    torch.tensor([[0.5, -1.0], [2.0, 0.1]]), dict(t=0.5, labels=torch.tensor([0, 3]))),
    "NoisyClassifier.forward": (lambda: _net(NoisyClassifier, NoisyClassifierConfig), IMAGE, dict(t=0.5)),
    "SRUNet.forward": (lambda: _net(SRUNet, SRUNetConfig, channels=(8, 8, 16), emb_dim=16), IMAGE,
                       dict(t=0.5, cond=IMAGE.flip(0), s=0.1)),
    "UNet14.forward": (lambda: _net(UNet14, UNet14Config, channels=(8, 8, 16), emb_dim=16),
                       IMAGE[:, :, :14, :14], dict(t=0.5)),
}


def _warns_naming_z_bar(call):
    with pytest.warns(DeprecationWarning, match=r"keyword 'x' is deprecated, use 'z_bar'"):
        return call()


@pytest.mark.parametrize("name", sorted(CALLS))
def test_functions_accept_the_old_keyword_with_a_warning(name):
    call = CALLS[name]
    expected = call("z_bar", Z0)
    got = _warns_naming_z_bar(lambda: call("x", Z0))
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert not torch.equal(expected, call("z_bar", Z0 + 0.5))   # the value passed as x is the one used


@pytest.mark.parametrize("name", sorted(MODULE_CALLS))
def test_networks_accept_the_old_keyword_with_a_warning(name):
    make, z_bar, kwargs = MODULE_CALLS[name]
    net = make()
    with torch.no_grad():
        expected = net(z_bar=z_bar, **kwargs)
        got = _warns_naming_z_bar(lambda: net(x=z_bar, **kwargs))
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
        assert not torch.equal(net(z_bar=z_bar + 0.5, **kwargs), expected)
        with pytest.raises(TypeError, match="got both 'x' \\(deprecated\\) and 'z_bar'"):
            net(x=z_bar, z_bar=z_bar, **kwargs)


def test_clip_image_side_accepts_the_old_keyword():
    clip = _clip()
    with torch.no_grad():
        for f, kwargs in [(clip.encode_image, dict(t=0.5)), (clip, dict(ids=torch.tensor([[1, 2, 0]]), t=0.5)),
                          (lambda **kw: caption_log_probs(clip, **kw), dict(t=0.5, captions=["zero", "one"]))]:
            expected = f(z_bar=IMAGE, **kwargs)
            torch.testing.assert_close(_warns_naming_z_bar(lambda: f(x=IMAGE, **kwargs)), expected, rtol=0, atol=0)


def test_both_keywords_at_once_is_a_type_error():
    with pytest.raises(TypeError, match="got both 'x' \\(deprecated\\) and 'z_bar'; pass 'z_bar' only"):
        sample_ddim(eps_from_denoiser(MIX.denoise), x=Z0, z_bar=Z0, alpha_bars=ALPHA_BARS)


@pytest.mark.parametrize("fn", [sample_ddpm, sample_ddim, sample_ddpm_mean_shift, sample_ddim_cfgpp,
                                UNet.forward, MLP.forward, Clip.encode_image, caption_log_probs])
def test_signatures_show_the_new_name_only(fn):
    params = inspect.signature(fn).parameters
    assert "z_bar" in params and "x" not in params


# ---- the book ----------------------------------------------------------------------------------
#: "x = z/\sqrt{1+t}" or "x_t = z/\sqrt{1+t}" in LaTeX: the network input called x
X_IS_NETWORK_INPUT = re.compile(r"(?<![\w\\])x(_t)?\s*=\s*z\s*/\s*\\sqrt\{1\s*\+\s*t\}")


def prose():
    """(where, text) of the book's pages and of every notebook's markdown cell, homework included."""
    for path in sorted((ROOT / "book").glob("*.md")):
        yield path.name, path.read_text(encoding="utf-8")
    for path in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for i, cell in enumerate(cells):
            if cell["cell_type"] == "markdown":
                yield f"{path.relative_to(ROOT).as_posix()} cell {i}", "".join(cell["source"])


def test_the_scan_reads_notebook_markdown():
    found = dict(prose())
    assert any(where.startswith("notebooks/homework/solutions/hw6_clip_guidance.ipynb cell ") for where in found)
    assert any(r"\bar z = z/\sqrt{1+t}" in text for where, text in found.items() if where.startswith("notebooks/"))
    assert X_IS_NETWORK_INPUT.search(r"sees the noisy image $x = z/\sqrt{1+t}$ and")
    assert not X_IS_NETWORK_INPUT.search(r"$\bar z = z/\sqrt{1+t}$")


def test_the_book_never_calls_the_network_input_x():
    hits = [f"{where}: {line.strip()}" for where, text in prose()
            for line in text.splitlines() if X_IS_NETWORK_INPUT.search(line)]
    assert not hits, "the network input is z̄ = z/√(1+t) (book: Notation), not x:\n" + "\n".join(hits)
