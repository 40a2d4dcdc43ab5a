"""Sphinx extension for the course book: one search field per page, in the sidebar.

pydata-sphinx-theme >= 0.16 puts a search field in the page header
(``navbar_persistent``) unless the option is set, and sphinx-book-theme puts
its own at the top of the left sidebar, so every page had two (issue 18).
Jupyter Book writes ``html_theme_options`` itself (from ``_config.yml``'s
``html:`` and ``launch_buttons:``), and replacing that dictionary from
``sphinx.config`` would drop the launch buttons; this extension only sets
``navbar_persistent`` to nothing, which leaves the sidebar's field (and the
Ctrl+K shortcut and the search page) as they were.

Listed in ``_config.yml`` under ``sphinx.extra_extensions``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # sphinx is a [dev] dependency; the package never imports this module itself
    from sphinx.application import Sphinx


def _no_header_search(app: Sphinx, config) -> None:
    config.html_theme_options.setdefault("navbar_persistent", [])


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", _no_header_search)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
