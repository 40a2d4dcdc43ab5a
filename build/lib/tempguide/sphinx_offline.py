"""Sphinx extension for the course book (not used by notebooks): no remote scripts on its pages.

Listed in `_config.yml` under `sphinx.extra_extensions`.  It lives in the
package, not in a `local_extensions` folder, so that every configuration file
finds it wherever it lies (`make book-student` builds from a generated copy of
`_config.yml` under `_build/`, and Jupyter Book resolves `local_extensions`
paths against the configuration file's folder).

Jupyter Book always loads `sphinx_thebe`, which puts on every page an inline
script naming thebe's CDN bundle (`const THEBE_JS_URL = "https://unpkg.com/..."`)
and `sphinx-thebe.js`, to start live code in the page.  The course does not use
thebe (`launch_buttons.thebe` is off; Colab and Binder are plain links), and
with Sphinx 7.4 that inline script is even written twice, so every page threw
"Identifier 'THEBE_JS_URL' has already been declared".  This extension removes
sphinx-thebe's `init_thebe_core` listener, which adds exactly those two scripts.
If thebe is switched on in `_config.yml` it does nothing.  The browser test
(tests/test_browser.py) fails on any non-local request or uncaught script error.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # sphinx is a [dev] dependency; the package never imports this module itself
    from sphinx.application import Sphinx


def _drop_thebe_loader(app: Sphinx, config) -> None:
    if config.html_theme_options.get("launch_buttons", {}).get("thebe"):
        return
    import sphinx_thebe

    found = [listener for listener in app.events.listeners.get("env-before-read-docs", [])
             if listener.handler is sphinx_thebe.init_thebe_core]
    if not found:
        from sphinx.util import logging

        logging.getLogger(__name__).warning(
            "tempguide.sphinx_offline: sphinx_thebe.init_thebe_core not found; thebe's CDN script stays")
    for listener in found:
        app.disconnect(listener.id)


def setup(app: Sphinx) -> dict:
    app.setup_extension("sphinx_thebe")
    app.connect("config-inited", _drop_thebe_loader)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
