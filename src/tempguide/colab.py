"""The setup cell: every notebook's first code cell, right after its title.

Book: "Running the notebooks".  The rendered book leaves the cell out of the page
(tag ``remove-cell``); Colab shows it.

Colab receives only the notebook file, so the package must be installed by the
notebook itself.  The cell installs ``tempguide`` from the repository inside
Colab and does nothing elsewhere.  ``TEMPGUIDE_INSTALL_TARGET`` (a pip target:
a local path or a ``git+`` URL) forces the install anywhere; the Colab
simulation test uses it to install from the local checkout.

``REPOSITORY_URL`` must equal ``repository.url`` in ``_config.yml`` (a test checks).
"""
REPOSITORY_URL = "https://github.com/tempguide/tempguide"
INSTALL_ENV = "TEMPGUIDE_INSTALL_TARGET"

SETUP_CELL = f"""\
# Setup: inside Google Colab this installs the course package `tempguide`; elsewhere it does nothing.
import os, sys
if "google.colab" in sys.modules or "{INSTALL_ENV}" in os.environ:
    _target = os.environ.get("{INSTALL_ENV}", "git+{REPOSITORY_URL}")
    %pip install --quiet {{_target}}"""
