"""Where the course decides the device, the run profile and the seeds.

Every notebook starts with::

    from tempguide import config
    P = config.profile()          # sizes for this machine
    config.seed_everything(0)

and reads sizes (``P.n_samples``, ``P.train_steps``, ...) from ``P`` instead of
hard-coding them.  Two profiles exist (book: "Running the notebooks"):

``quick``
    what CI and a laptop CPU run: small sample counts, few training steps, each
    notebook finishes in well under three minutes on two CPU cores.
``full``
    what a GPU runs: the sizes behind the numbers quoted in the book.

The profile is ``full`` when a GPU is found and ``quick`` otherwise; the
environment variable ``TEMPGUIDE_PROFILE`` (``quick`` or ``full``) overrides it.
The device is chosen once, here: CUDA, then Apple's MPS, then the CPU; the
environment variable ``TEMPGUIDE_DEVICE`` (``cpu``, ``cuda``, ``cuda:N`` or ``mps``)
overrides it.  A value that is not a device, or a device this machine does not
have, raises ``ValueError`` naming the variable (it never falls back silently,
which would also switch the profile).
"""
from __future__ import annotations

import dataclasses
import os
import random

import numpy as np
import torch

PROFILE_ENV = "TEMPGUIDE_PROFILE"
DEVICE_ENV = "TEMPGUIDE_DEVICE"


@dataclasses.dataclass(frozen=True)
class Profile:
    """Sizes a notebook may use; one instance per profile (see module docstring)."""

    name: str
    mnist_source: str  # "subset" (offline, 5,000 images) or "torchvision" (60,000 + 10,000)
    n_samples: int  # images generated per setting when a metric is computed
    n_grid: int  # images shown per sample grid
    n_steps: int  # reverse-diffusion steps for image samplers
    toy_samples: int  # points sampled per setting on the 2-D toys
    toy_steps: int  # reverse-diffusion steps on the 2-D toys
    train_steps: int  # steps when a notebook trains a model from scratch
    batch_size: int  # training batch size
    text_samples: int  # generations per decoding setting (LLM chapter)
    text_length: int  # characters per generation (LLM chapter)
    sweep_points: int  # number of values in a temperature / guidance sweep
    # Chapter 2's MNIST temperature sweep: images per setting and DDPM steps.  The course UNet costs
    # ~10 ms per image and step on one CPU core, so the quick profile keeps n × steps small.
    diffusion_sweep_samples: int
    diffusion_sweep_steps: int
    # Guidance chapters (3, 4): images per guidance setting (a multiple of 10, the classes) and
    # DDPM steps; a guided step costs about 2 network evaluations (a CFG pair or a classifier backward).
    guidance_sweep_samples: int
    guidance_sweep_steps: int
    # Chapter 1's decoding sweeps (notebook 11): prompts per setting and characters per generation, after
    # a 16-character prompt.  Greedy decoding ends in a repeated phrase only late in a generation (2 of 16
    # seeded prompts at 240 characters; after 32-character prompts 2 of 32 at 224, none of 16 at 200), so the quick profile generates
    # 240 characters: 16 + 240 fills the model's 256-character context, beyond which every step recomputes
    # the whole window (about 25 times slower).
    lm_sweep_prompts: int
    lm_sweep_length: int


PROFILES = {
    "quick": Profile(
        name="quick",
        mnist_source="subset",
        n_samples=200,
        n_grid=32,
        n_steps=50,
        toy_samples=4000,
        toy_steps=100,
        train_steps=300,
        batch_size=64,
        text_samples=8,
        text_length=200,
        sweep_points=5,
        diffusion_sweep_samples=32,
        diffusion_sweep_steps=20,
        guidance_sweep_samples=40,
        guidance_sweep_steps=20,
        lm_sweep_prompts=16,
        lm_sweep_length=240,
    ),
    "full": Profile(
        name="full",
        mnist_source="torchvision",
        n_samples=2000,
        n_grid=64,
        n_steps=250,
        toy_samples=50000,
        toy_steps=500,
        train_steps=20000,
        batch_size=128,
        text_samples=64,
        text_length=400,
        sweep_points=9,
        diffusion_sweep_samples=1000,
        diffusion_sweep_steps=250,
        guidance_sweep_samples=1000,
        guidance_sweep_steps=50,
        lm_sweep_prompts=64,
        lm_sweep_length=400,
    ),
}


#: the values ``TEMPGUIDE_DEVICE`` accepts (N: a CUDA device index)
DEVICES = ("cpu", "cuda", "cuda:N", "mps")


def device() -> torch.device:
    """The device every notebook and tool uses: ``TEMPGUIDE_DEVICE`` if set, else cuda, then mps, then cpu."""
    name = os.environ.get(DEVICE_ENV)
    if name:
        return _device_from_env(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _device_from_env(name: str) -> torch.device:
    """The device ``TEMPGUIDE_DEVICE=name`` asks for, if it is one of ``DEVICES`` and this machine has it."""
    try:
        dev = torch.device(name.strip().lower())
    except RuntimeError:
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{DEVICE_ENV}={name!r} is not a device; allowed values: {', '.join(DEVICES)}")
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"{DEVICE_ENV}={name!r} asks for CUDA, but torch finds no CUDA device here; "
                             f"unset {DEVICE_ENV} or set it to 'cpu'")
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"{DEVICE_ENV}={name!r}: this machine has CUDA devices 0..{count - 1}")
    mps = getattr(torch.backends, "mps", None)
    if dev.type == "mps" and not (mps is not None and mps.is_available()):
        raise ValueError(f"{DEVICE_ENV}={name!r} asks for Apple's MPS, which torch does not find here; "
                         f"unset {DEVICE_ENV} or set it to 'cpu'")
    return dev


def profile_name() -> str:
    """``TEMPGUIDE_PROFILE`` if set, else ``full`` on a GPU and ``quick`` on a CPU."""
    name = os.environ.get(PROFILE_ENV)
    if name is None:
        return "quick" if device().type == "cpu" else "full"
    name = name.strip().lower()
    if name not in PROFILES:
        raise ValueError(
            f"{PROFILE_ENV}={name!r} is not a profile; allowed values: {sorted(PROFILES)}"
        )
    return name


def profile(name: str | None = None) -> Profile:
    """The sizes for this run: ``profile()`` follows the environment, ``profile("full")`` forces one."""
    if name is None:
        name = profile_name()
    if name not in PROFILES:
        raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {name!r}")
    return PROFILES[name]


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU ``torch.Generator`` seeded the same.

    Quick-profile runs on the CPU are then reproducible bit for bit.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def describe() -> str:
    """One line saying which profile and device this run uses (notebooks print it)."""
    p = profile()
    return f"tempguide: profile={p.name!r} device={device().type!r} torch={torch.__version__}"
