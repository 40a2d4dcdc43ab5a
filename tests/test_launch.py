"""Launch buttons, Binder's environment and the book's local assets, read from the files.

Issue "book and launch", items 1 and 3.  The built pages are checked in
tests/test_book.py (launch links) and tests/test_browser.py (what loads).
"""
from __future__ import annotations

import re
from urllib.parse import urlparse

import yaml

from notebook_tools import ROOT, load_config

VENDOR = ROOT / "book" / "_vendor"


def test_launch_buttons_point_at_colab_and_binder():
    config = load_config()
    url = urlparse(config["repository"]["url"])
    assert url.scheme == "https" and url.netloc == "github.com"
    assert len(url.path.strip("/").split("/")) == 2, "repository.url must be https://github.com/OWNER/REPO"
    assert config["repository"]["branch"]
    launch = config["launch_buttons"]
    assert launch["colab_url"] == "https://colab.research.google.com"
    assert launch["binderhub_url"] == "https://mybinder.org"
    assert not launch.get("thebe", False), "thebe would load its runtime from a CDN"


def test_binder_environment():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    python = [d for d in deps if isinstance(d, str) and re.fullmatch(r"python\s*=+\s*3\.\d+", d)]
    assert python and int(python[0].split(".")[-1]) >= 10, "Binder needs python=3.10 or newer"
    assert "pip" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in pip, "CPU torch wheels"
    names = {re.split(r"[<>=!~ ]", line, maxsplit=1)[0] for line in pip}
    assert {"torch", "torchvision"} <= names
    # the package itself, with every dependency in pyproject.toml
    assert "-e ." in pip or "." in pip


def test_book_assets_are_local_files():
    sphinx = load_config()["sphinx"]["config"]
    assert sphinx["html_static_path"] == ["book/_vendor"]
    mathjax = sphinx["mathjax_path"]
    assert "://" not in mathjax and (VENDOR / mathjax).is_file()
    widgets = sphinx["nb_ipywidgets_js"]
    assert len(widgets) == 4
    for path, attributes in widgets.items():
        assert "://" not in path and (VENDOR / path).is_file(), path
        assert not any("://" in str(v) for v in attributes.values()), attributes
    # MathJax's CHTML output needs its fonts next to the script
    assert len(list((VENDOR / "mathjax/output/chtml/fonts/woff-v2").glob("*.woff"))) >= 20
    assert (VENDOR / "mathjax/input/tex/extensions/boldsymbol.js").is_file()
    assert sphinx["nb_execution_raise_on_error"] is True


def test_vendored_versions_match_their_record():
    """book/_vendor/README.md records what is vendored; the files say which version they are."""
    readme = (VENDOR / "README.md").read_text()
    mathjax = re.search(r'VERSION="(3\.\d+\.\d+)"', (VENDOR / "mathjax/tex-chtml.js").read_text())
    requirejs = re.search(r"RequireJS (\d+\.\d+\.\d+)", (VENDOR / "requirejs/require.js").read_text())
    update = (VENDOR / "update.sh").read_text()
    for name, found in [("MATHJAX", mathjax), ("REQUIREJS", requirejs)]:
        assert found, name
        assert f"| {found.group(1)} " in readme and f"{name}={found.group(1)}" in update, name
    html_manager = re.search(r"HTML_MANAGER=(\S+)", update).group(1)
    assert f'"{html_manager}"' in (VENDOR / "html-manager/embed-amd.js").read_text()
    assert f"| {html_manager} " in readme
