"""Recipes and the command line: noise levels, the diffusion objective, a few steps of every recipe."""
import dataclasses
import json

import pytest
import torch

from tempguide import pretrained
from tempguide.diffusion.schedules import ddpm_ts
from tempguide.train import __main__ as cli
from tempguide.train import recipes, recipes_cfg_variants, recipes_ch6_clip, recipes_ch6_sr, recipes_guidance, recipes_mvae
from tempguide.train.loop import train


def test_noise_levels_cover_ddpm_range_with_uniform_index():
    g = torch.Generator().manual_seed(0)
    t = recipes.sample_noise_levels(200_000, g).double()
    ts = ddpm_ts()
    assert t.min() >= ts[0] * (1 - 1e-6) and t.max() <= ts[-1] * (1 + 1e-6)
    # a uniform continuous index: the fraction below level k is k / 999
    for k in (1, 10, 250, 500, 900):
        assert (t < ts[k]).double().mean().item() == pytest.approx(k / 999, abs=4e-3)
    # and the levels between two DDPM levels are hit too (continuous, not only the 1000 grid points)
    assert ((t > ts[100] * 1.001) & (t < ts[101] * 0.999)).any()


def _pulled_scalar(n: int, d: float):
    """Train one scalar parameter towards 5 from −3; return (debiased EMA, [θ_0, θ_1, …, θ_n])."""
    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.constant_(model.weight, -3.0)
    seen = []

    def loss_fn(m, batch, g):
        seen.append(m.weight.item())  # θ_{k-1}, before step k
        return (m.weight - 5.0).pow(2).sum()

    ema, _ = train(model, loss_fn, lambda g: (), steps=n, lr=0.3, warmup=1, ema_decay=d, grad_clip=1e9,
                   device=torch.device("cpu"), progress=False)
    return ema.weight.item(), seen + [model.weight.item()]


def test_ema_is_debiased_average_of_the_trajectory():
    n, d = 60, 0.99
    ema, theta = _pulled_scalar(n, d)
    # The average of θ_2 … θ_n with EMA weights renormalised to sum to one (the EMA's start θ_1 removed).
    weights = {k: (1 - d) * d ** (n - k) for k in range(2, n + 1)}
    expected = sum(w * theta[k] for k, w in weights.items()) / sum(weights.values())
    assert ema == pytest.approx(expected, rel=1e-6)
    plain = d ** (n - 1) * theta[1] + sum(w * theta[k] for k, w in weights.items())  # torch's EMA as is
    assert abs(plain - theta[-1]) > 2 * abs(expected - theta[-1])  # dragged towards the start θ_1


@pytest.mark.parametrize("n", [1, 2, 3])
def test_ema_of_a_very_short_run_is_exact(n):
    # One step: the EMA is θ_1.  Two: (d·θ_1 + (1 − d)·θ_2 − d·θ_1) / (1 − d) = θ_2.  Three: θ_2, θ_3 weighted d : 1.
    d = 0.999
    ema, theta = _pulled_scalar(n, d)
    expected = theta[1] if n == 1 else theta[2] if n == 2 else (d * theta[2] + theta[3]) / (1 + d)
    # float32 rounding of the EMA grows by 1 / (1 − d^(n−1)) = 1000 at n = 2: about 1e-4 relative.
    assert ema == pytest.approx(expected, rel=1e-3)
    assert min(theta[1:]) - 1e-3 <= ema <= max(theta[1:]) + 1e-3  # an average, never an extrapolation


def test_ema_debias_touches_tied_weights_once():
    # An embedding tied to the output layer (as in CharGPT) is one tensor under two names.
    class Tied(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(5, 3)
            self.head = torch.nn.Linear(3, 5, bias=False)
            self.head.weight = self.embed.weight

        def forward(self, ids):
            return self.head(self.embed(ids))

    torch.manual_seed(0)
    model = Tied()
    ids = torch.tensor([0, 1, 2, 3, 4])
    ema, _ = train(model, lambda m, batch, g: torch.nn.functional.cross_entropy(m(ids), ids.roll(1)),
                   lambda g: (), steps=2, lr=0.1, warmup=1, device=torch.device("cpu"), progress=False)
    # two steps: the debiased EMA is θ_2, the model's own final weights (to float32 rounding × 1000)
    torch.testing.assert_close(ema.embed.weight, model.embed.weight, rtol=0, atol=1e-3)
    assert ema.head.weight is ema.embed.weight


def test_ema_debias_keeps_a_constant_non_persistent_buffer():
    # Sinusoidal frequencies (tempguide.models.embedding) are a buffer left out of the state dict;
    # the EMA averages it anyway, and the average of a constant must stay that constant.
    class WithFrequencies(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 1)
            self.register_buffer("freqs", torch.tensor([1.0, 3.0]), persistent=False)

        def forward(self, x):
            return self.linear(torch.sin(x * self.freqs))

    x = torch.linspace(-1, 1, 8).repeat(2, 1).T
    ema, _ = train(WithFrequencies(), lambda m, batch, g: m(x).pow(2).mean(), lambda g: (), steps=5,
                   device=torch.device("cpu"), progress=False)
    torch.testing.assert_close(ema.freqs, torch.tensor([1.0, 3.0]), rtol=1e-4, atol=0)  # rounding × 1/(1 − d⁴)


@pytest.mark.seed("003-12")
def test_noisy_is_the_scaled_forward_process():
    g = torch.Generator().manual_seed(1)
    y, t = torch.randn(8, 1, 28, 28), torch.rand(8) * 10
    x, eps = recipes.noisy(y, t, g)
    z = y + t.sqrt().view(-1, 1, 1, 1) * eps  # z = y + √t·ε
    torch.testing.assert_close(x, z / (1 + t).sqrt().view(-1, 1, 1, 1))


class _Recorder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.config = type("C", (), {"num_classes": 10})()
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, t, labels):
        self.labels = labels
        return x * self.w


@pytest.mark.seed("000-22", "000-23", "001-17", "002-10")
def test_label_dropout():
    net, g = _Recorder(), torch.Generator().manual_seed(2)
    y, c = torch.randn(4000, 1, 28, 28), torch.randint(10, (4000,))
    recipes.eps_loss(net, y, c, g, p_uncond=1.0)
    assert (net.labels == 10).all()
    recipes.eps_loss(net, y, c, g, p_uncond=0.15)
    dropped = net.labels == 10
    assert dropped.double().mean().item() == pytest.approx(0.15, abs=0.02)
    assert (net.labels[~dropped] == c[~dropped]).all()


def test_augment_without_jitter_is_identity():
    y = torch.rand(3, 1, 28, 28) * 2 - 1
    out = recipes.augment(y, torch.Generator().manual_seed(0), shift=0.0, degrees=0.0, scale=0.0)
    torch.testing.assert_close(out, y, atol=1e-5, rtol=0)


RECIPES = {
    "mnist_classifier": (recipes.mnist_classifier, recipes.CLASSIFIER_CONFIG),
    "mnist_uncond": (recipes.mnist_uncond, recipes.UNCOND_CONFIG),
    "mnist_cond": (recipes.mnist_cond, recipes.COND_CONFIG),
    "mnist_noisy_classifier": (recipes.mnist_noisy_classifier, recipes.NOISY_CLASSIFIER_CONFIG),
    "toy_2d": (recipes.toy_2d, recipes.TOY_CONFIG),
    **{name: (recipe, recipes_guidance.CONFIGS[name]) for name, recipe in recipes_guidance.RECIPES.items()},
    **{name: (recipe, recipes_cfg_variants.CONFIGS[name]) for name, recipe in recipes_cfg_variants.RECIPES.items()},
    **{name: (recipe, module.CONFIGS[name]) for module in (recipes_mvae, recipes_ch6_sr, recipes_ch6_clip)
       for name, recipe in module.RECIPES.items()},
}


FITTED_IN_CLOSED_FORM = {"unclip_prior"}


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_few_steps_matches_manifest(name):
    recipe, model_config = RECIPES[name]
    steps = 40 if name == "toy_2d" else 6
    trained = recipe(steps=steps, seed=0, device=torch.device("cpu"), progress=False)
    if name in FITTED_IN_CLOSED_FORM:  # sample moments, no gradient steps: one loss, the fitted NLL
        assert trained.result.steps == 0 and len(trained.result.losses) == 1
    else:
        assert trained.result.steps == steps and len(trained.result.losses) == steps
    assert all(torch.isfinite(torch.tensor(trained.result.losses)))
    if name == "toy_2d":  # enough steps to see the loss fall
        assert sum(trained.result.losses[-10:]) < sum(trained.result.losses[:10])
    assert all(v == v for v in trained.metrics.values())  # no NaN metrics
    # The recipe's config is the code's config dataclass, and the shipped manifest recorded the same one.
    assert trained.config == dataclasses.asdict(model_config)
    assert pretrained.info(name)["config"] == json.loads(json.dumps(trained.config))
    assert type(trained.model).__name__ == pretrained.info(name)["model"]


@pytest.mark.parametrize("name", sorted(cli.RECIPES))
def test_recipe_is_reproducible(name):
    # Same seed, same weights, bitwise: batches, noise and dropout (the classifiers, char_gpt) are all seeded.
    recipe = cli.RECIPES[name]
    runs = [recipe(steps=3, seed=1, device=torch.device("cpu"), progress=False).model for _ in range(2)]
    first, second = (run.state_dict() for run in runs)
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_cli_refuses_to_overwrite_then_writes_with_force(tmp_path, capsys):
    (tmp_path / "toy_2d.pt").write_bytes(b"old")
    assert cli.main(["toy_2d", "--out", str(tmp_path), "--steps", "5"]) == 1
    assert "--force" in capsys.readouterr().err and (tmp_path / "toy_2d.pt").read_bytes() == b"old"
    assert cli.main(["toy_2d", "--out", str(tmp_path), "--steps", "5", "--force"]) == 0
    entry = pretrained.info("toy_2d", tmp_path)
    assert entry["steps"] == 5 and entry["batch_size"] == 256 and "eps_mse_cond_t=1" in entry["metrics"]
    assert pretrained.load("toy_2d", device="cpu", directory=tmp_path).config == recipes.TOY_CONFIG


def test_cli_knows_every_shipped_name():
    assert set(RECIPES) | {"char_gpt"} == set(cli.RECIPES)
