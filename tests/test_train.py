"""Recipes and the command line: noise levels, the diffusion objective, a few steps of every recipe."""
import dataclasses
import json

import pytest
import torch

from tempguide import pretrained
from tempguide.diffusion.schedules import ddpm_ts
from tempguide.train import __main__ as cli
from tempguide.train import recipes
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


def test_ema_is_debiased_average_of_the_trajectory():
    # One scalar parameter pulled towards 5; record the weights θ_0, θ_1, … the loop visits.
    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.constant_(model.weight, -3.0)
    seen = []

    def loss_fn(m, batch, g):
        seen.append(m.weight.item())  # θ_{k-1}, before step k
        return (m.weight - 5.0).pow(2).sum()

    n, d = 60, 0.99
    ema, _ = train(model, loss_fn, lambda g: (), steps=n, lr=0.3, warmup=1, ema_decay=d, grad_clip=1e9,
                   device=torch.device("cpu"), progress=False)
    theta = seen + [model.weight.item()]  # θ_0 … θ_n
    w = d ** (n - 1)
    plain = w * theta[1] + sum((1 - d) * d ** (n - k) * theta[k] for k in range(2, n + 1))  # torch's EMA
    expected = (plain - w * theta[0]) / (1 - w)  # with the random start removed
    assert ema.weight.item() == pytest.approx(expected, rel=1e-5)
    assert abs(plain - theta[-1]) > 2 * abs(expected - theta[-1])  # the plain EMA is dragged towards θ_0 = −3


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
}


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_few_steps_matches_manifest(name):
    recipe, model_config = RECIPES[name]
    steps = 40 if name == "toy_2d" else 6
    trained = recipe(steps=steps, seed=0, device=torch.device("cpu"), progress=False)
    assert trained.result.steps == steps and len(trained.result.losses) == steps
    assert all(torch.isfinite(torch.tensor(trained.result.losses)))
    if name == "toy_2d":  # enough steps to see the loss fall
        assert sum(trained.result.losses[-10:]) < sum(trained.result.losses[:10])
    assert all(v == v for v in trained.metrics.values())  # no NaN metrics
    # The recipe's config is the code's config dataclass, and the shipped manifest recorded the same one.
    assert trained.config == dataclasses.asdict(model_config)
    assert pretrained.info(name)["config"] == json.loads(json.dumps(trained.config))
    assert type(trained.model).__name__ == pretrained.info(name)["model"]


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
