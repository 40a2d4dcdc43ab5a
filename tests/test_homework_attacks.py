"""Every attack a reviewer used against the grader, as a regression test (issue 16).

The attack notebooks are built from hw1 by ``tests/grader_probes.py`` (shared with
``benchmarks/bench_grader.py``, which prints the before/after table); each is graded
through the command line in its own process group, and the probe's check asserts the
right verdict: score 0 for every attempt to score without solving, exactly one JSON
report on stdout, exit 0 whatever the kernel does, the answer key and the package
untouched, no hidden-test text in the report.
"""
from __future__ import annotations

import os

import pytest

import grader_probes as gp

ROOT_ONLY = {"answer_key", "tamper_package", "kill_parent_9", "fork_rewrite", "fake_json_stdout"}


@pytest.mark.parametrize("name", sorted(gp.PROBES))
def test_probe_gets_the_right_verdict(name, tmp_path):
    if name in ROOT_ONLY and os.geteuid() != 0:
        pytest.skip("only the sandbox (grader run as root, as in CI) guarantees this; see the trust model")
    outcome = gp.run_probe(gp.PROBES[name], tmp_path)
    assert outcome.verdict is None, f"{name}: {outcome.verdict}\nstdout: {outcome.stdout[:2000]}"
