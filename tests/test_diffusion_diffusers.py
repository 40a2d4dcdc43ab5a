"""Our DDPM and DDIM loops equal diffusers' DDPMScheduler / DDIMScheduler loops.

Same ε-network, same schedule (DDPM linear β, 1e-4 … 0.02), same start and the
same generator (both draw their noise with ``torch.randn`` in the same order);
diffusers' ``clip_sample`` is switched off because it changes the mathematics.

"Same schedule" means the same numbers in the same precision: diffusers stores ᾱ
in float32, and near ᾱ = 1 the float32 differences 1 − ᾱ and 1 − ᾱ_t/ᾱ_s lose
about three digits, which alone moves the samples by ~1e-4.  So we hand the
scheduler our float64 ᾱ (its public ``alphas_cumprod``; equal to its own to
float32 precision, tested below) and both loops do the schedule arithmetic in
float64, as NVlabs/edm does.  The samples themselves stay float32.
"""
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from tempguide import toy
from tempguide.diffusion import ddpm_alpha_bars, eps_from_denoiser, sample_ddim, sample_ddpm, t_from_alpha_bar
from tempguide.models import MLP, MLPConfig

SCHEDULE = dict(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02, clip_sample=False)
ALPHA_BARS = ddpm_alpha_bars()  # float64; index = diffusers' timestep


def scheduler(cls, n_steps):
    s = cls(**SCHEDULE)
    s.alphas_cumprod = ALPHA_BARS  # the same schedule, in float64
    s.set_timesteps(n_steps)
    return s


def exact_eps():
    """The exact ε of the 2-D mixture: ε̂(x, t) = (z − E[y | z]) / √t at z = x √(1+t)."""
    return eps_from_denoiser(toy.mixture_2d().denoise)


def perturbed_eps():
    """The exact ε plus 0.1 × a tiny random MLP: a deterministic ε-network that is no mixture's."""
    torch.manual_seed(0)
    mlp, eps = MLP(MLPConfig(dim=2, hidden=32, depth=2)).eval(), exact_eps()
    return lambda x, t, labels=None: eps(x, t) + 0.1 * mlp(x, t)


NETS = {"exact_mixture_eps": exact_eps, "perturbed_eps": perturbed_eps}


def test_schedule_is_diffusers_to_float32_precision():
    torch.testing.assert_close(DDPMScheduler(**SCHEDULE).alphas_cumprod.double(), ALPHA_BARS, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(DDIMScheduler(**SCHEDULE).alphas_cumprod.double(), ALPHA_BARS, rtol=1e-6, atol=1e-7)


def diffusers_loop(scheduler, net, x, generator, **step_kwargs):
    for k in scheduler.timesteps:
        t = t_from_alpha_bar(ALPHA_BARS[k]).float()  # the network's noise variance at timestep k
        eps_hat = net(x, t)
        x = scheduler.step(eps_hat, k, x, generator=generator, **step_kwargs).prev_sample
    return x


def our_levels(scheduler):
    return torch.cat([ALPHA_BARS[scheduler.timesteps], torch.ones(1, dtype=torch.float64)])


@pytest.mark.parametrize("net_name", NETS)
@pytest.mark.parametrize("n_steps", [1000, 50])
@torch.no_grad()
def test_ddpm_equals_diffusers(net_name, n_steps):
    net = NETS[net_name]()
    sched = scheduler(DDPMScheduler, n_steps)
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    ref = diffusers_loop(sched, net, x, torch.Generator().manual_seed(1))
    ours = sample_ddpm(net, x, our_levels(sched), generator=torch.Generator().manual_seed(1))
    assert ours.dtype == ref.dtype == torch.float32
    assert (ours - ref).abs().max().item() <= 1e-5


@pytest.mark.parametrize("net_name", NETS)
@pytest.mark.parametrize("n_steps,eta", [(50, 0.0), (20, 1.0), (20, 0.3)])
@torch.no_grad()
def test_ddim_equals_diffusers(net_name, n_steps, eta):
    net = NETS[net_name]()
    sched = scheduler(DDIMScheduler, n_steps)
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    ref = diffusers_loop(sched, net, x, torch.Generator().manual_seed(1), eta=eta)
    ours = sample_ddim(net, x, our_levels(sched), eta=eta, generator=torch.Generator().manual_seed(1))
    assert ours.dtype == ref.dtype == torch.float32
    assert (ours - ref).abs().max().item() <= 1e-5


@torch.no_grad()
def test_ddpm_at_temperature_zero_is_the_posterior_mean_chain():
    """T = 0 removes the noise: the result no longer depends on the generator."""
    net = perturbed_eps()
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
    levels = torch.cat([ALPHA_BARS[::50].flip(0), torch.ones(1, dtype=torch.float64)])
    a = sample_ddpm(net, x, levels, temperature=0.0, generator=torch.Generator().manual_seed(1))
    b = sample_ddpm(net, x, levels, temperature=0.0, generator=torch.Generator().manual_seed(2))
    c = sample_ddpm(net, x, levels, temperature=1.0, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
