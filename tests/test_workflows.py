"""The CI workflows cannot run here: keep them correct by reading them (issue "Foundation", item 8).

- `.github/workflows/ci.yml` runs exactly the README's test command, which is
  also what `.ci/run` runs, and installs Debian's chromium for the browser test;
- `.github/workflows/notebooks-gpu.yml` runs every notebook under nbval on a
  self-hosted GPU runner with the `full` profile.
"""
from __future__ import annotations

import re
import shlex

import yaml

from notebook_tools import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def load(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads `on:` as True
    return workflow


def run_lines(job: dict) -> list[str]:
    return [line.strip() for step in job["steps"] if "run" in step for line in step["run"].splitlines()]


def readme_test_command() -> str:
    """The README's test command: the code line that its comment calls 'runs every test'."""
    readme = (ROOT / "README.md").read_text()
    found = re.findall(r"^(\S.*?)\s+#.*\bruns every test", readme, flags=re.MULTILINE)
    assert len(found) == 1, "README.md must name one test command ('... # runs every test ...')"
    return found[0].strip()


def test_readme_ci_run_and_cpu_workflow_use_one_test_command():
    command = readme_test_command()
    assert command == "make test"
    ci_run = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert ci_run[-1] == command, ".ci/run must end with the README's test command"
    job = next(iter(load("ci.yml")["jobs"].values()))
    assert command in run_lines(job)


def test_makefile_test_target_runs_pytest_over_everything():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", makefile, flags=re.MULTILINE).group(1)
    assert recipe.strip().splitlines()[-1].strip() == "$(BIN)/python -m pytest"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'testpaths\s*=\s*\["tests",\s*"notebooks"\]', pyproject)
    assert "--nbval-lax" in pyproject and "--nbval-current-env" in pyproject


def test_cpu_workflow_installs_debian_chromium_and_triggers():
    workflow = load("ci.yml")
    assert {"push", "pull_request"} <= set(workflow["on"])
    job = next(iter(workflow["jobs"].values()))
    assert "bookworm" in job["container"], "Debian, so that /usr/bin/chromium is Debian's chromium"
    installs = [shlex.split(line) for line in run_lines(job) if "apt-get install" in line]
    assert any("chromium" in words for words in installs)
    assert not any("playwright install" in line for line in run_lines(job))
    assert job["timeout-minutes"] <= 90


def test_gpu_workflow_runs_the_notebooks_with_the_full_profile():
    workflow = load("notebooks-gpu.yml")
    assert "workflow_dispatch" in workflow["on"]
    (job,) = workflow["jobs"].values()
    assert set(job["runs-on"]) == {"self-hosted", "linux", "gpu"}
    assert job["env"]["TEMPGUIDE_PROFILE"] == "full"
    lines = run_lines(job)
    assert "make venv" in lines
    assert any("torch.cuda.is_available()" in line for line in lines), "fail fast without a GPU"
    pytest_runs = [shlex.split(line) for line in lines if "-m pytest" in line]
    assert len(pytest_runs) == 1
    words = pytest_runs[0]
    assert words[0] == ".venv/bin/python" and words[-1] == "notebooks"
    assert "--nbval-lax" in words and "--nbval-current-env" in words
