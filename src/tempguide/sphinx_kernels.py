"""Sphinx extension for the course book: the kernels that execute its notebooks talk encrypted.

ipykernel >= 7.4 logs "Kernel is running over TCP without encryption" when its
ZeroMQ sockets run over TCP without CurveZMQ keys, and ``make book`` printed
that line once per executed notebook (issue 18).  jupyter_client >= 8.9 can
hand the kernel such keys: its ``KernelManager.transport_encryption`` policy
``"auto"`` provisions them whenever the kernelspec declares
``supported_encryption: curve`` (ipykernel's does), and the default policy is
``"disabled"``.  myst-nb executes through jupyter-cache and nbclient, which pass
no Jupyter configuration to the kernel manager they create, so this extension
sets the policy's default to ``"auto"`` in the build's own process.  A kernel
without Curve support still runs as before (``"auto"``, not ``"required"``).

Listed in ``_config.yml`` under ``sphinx.extra_extensions``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # sphinx is a [dev] dependency; the package never imports this module itself
    from sphinx.application import Sphinx

POLICY = "auto"


def encrypt_local_kernels() -> None:
    """Make ``"auto"`` the default transport-encryption policy of every jupyter_client kernel manager."""
    import zmq
    from jupyter_client.manager import KernelManager

    trait = KernelManager.class_traits().get("transport_encryption")
    if trait is not None and zmq.has("curve"):  # older jupyter_client or a libzmq without Curve: nothing to do
        trait.default_value = POLICY


def setup(app: Sphinx) -> dict:
    encrypt_local_kernels()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
