"""The learner's server configuration (hubconfig/singleuser/jupyter_server_config.py) loads.

Jupyter logs a configuration file that raises and starts without it: every setting in it
(fast stops, the lab extension, the read-only extension manager) would be gone without a
failing server to show it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from traitlets.config.loader import PyFileConfigLoader

CONFIG = Path(__file__).resolve().parents[2] / "hubconfig" / "singleuser" / "jupyter_server_config.py"


def test_the_learners_server_configuration_loads_whole():
    config = PyFileConfigLoader(CONFIG.name, path=str(CONFIG.parent)).load_config()
    extensions = config.ServerApp.jpserver_extensions.get_value({})
    assert extensions["hubconfig.labext"] is True
    assert config.LabApp.extension_manager == "readonly"


def test_language_servers_are_looked_for_only_where_one_is_installed():
    """jupyter-lsp scanned every package's entry points at each start: a quarter of a forked
    server's start-up CPU, for LSP features JupyterLab leaves off without a language server."""
    config = PyFileConfigLoader(CONFIG.name, path=str(CONFIG.parent)).load_config()
    extensions = config.ServerApp.jpserver_extensions.get_value({})
    installed = any(importlib.util.find_spec(name) for name in ("pylsp", "jedi_language_server"))
    assert extensions.get("jupyter_lsp", True) is installed


def test_kernels_hold_their_ports_in_the_learners_server():
    config = PyFileConfigLoader(CONFIG.name, path=str(CONFIG.parent)).load_config()
    assert config.KernelProvisionerFactory.default_provisioner_name == "held-ports-provisioner"
