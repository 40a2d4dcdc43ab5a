"""Instant feedback for the homework: a student's function against the reference (book: "Homework").

Each ``check_*`` calls the student's function on edge cases and random inputs,
compares with the course's reference implementation and prints what happened:
the first input that failed, what was expected and what came back, or "not
implemented yet" while the function still raises ``NotImplementedError``.  It
returns a ``CheckResult`` that is truthy when every case passed, so a test cell
can say ``assert result, result.report``.  One module per chapter:

- ``lm``         homework 1, temperature in language models (``check_temperature``, ``check_top_p``, …)
- ``diffusion``  homework 2, diffusion temperature (``check_temperature_step``, …)
- ``guidance``   homeworks 3 and 4, classifier and classifier-free guidance (``check_classifier_guided``, …)
- ``refinements``  homework 4b, APG and the guidance interval (``check_apg``, ``check_interval_denoiser``)
- ``clip``       homework 6, CLIP guidance (``check_noised_clip_log_prob``, ``check_clip_guided_denoiser``)
- ``mvae``       homework 5, the Markovian VAE (``check_level_nll``, ``check_ml_sigma``, ``check_unadjusted``,
  ``check_tempered``, ``check_guided``, ``check_chain_law``)

Every check is also available here, e.g. ``checks.check_top_p``.
"""
from ._core import INF, CheckResult, _finish, _short
from . import clip, diffusion, guidance, lm, mvae, refinements
from .clip import check_clip_guided_denoiser, check_noised_clip_log_prob
from .diffusion import check_final_variance, check_sample_tempered, check_temperature_step
from .guidance import (check_cfg_eps, check_cfg_ode_variance, check_cfg_target, check_classifier_guided,
                       check_eps_correction)
from .lm import (_compare_distributions, _compare_logits, _describe, _fmt, _near_top_p_boundary, _random_lm,
                 _random_logits, _run, _same_lm, _sequence_cases, check_per_token_distribution,
                 check_sequence_level_distribution, check_temperature, check_top_k, check_top_p, exact,
                 filter_logits)
from .mvae import check_chain_law, check_guided, check_level_nll, check_ml_sigma, check_tempered, check_unadjusted
from .refinements import check_apg, check_interval_denoiser

__all__ = [
    "CheckResult", "INF", "clip", "diffusion", "guidance", "lm", "mvae", "refinements",
    "check_noised_clip_log_prob", "check_clip_guided_denoiser",
    "check_temperature", "check_top_k", "check_top_p", "check_per_token_distribution",
    "check_sequence_level_distribution",
    "check_temperature_step", "check_sample_tempered", "check_final_variance",
    "check_classifier_guided", "check_eps_correction", "check_cfg_eps", "check_cfg_target", "check_cfg_ode_variance",
    "check_apg", "check_interval_denoiser",
    "check_level_nll", "check_ml_sigma", "check_unadjusted", "check_tempered", "check_guided", "check_chain_law",
]
