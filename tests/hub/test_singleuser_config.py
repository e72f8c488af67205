"""The learner's server configuration (hubconfig/singleuser/jupyter_server_config.py) loads.

Jupyter logs a configuration file that raises and starts without it: every setting in it
(fast stops, the lab extension, the read-only extension manager) would be gone without a
failing server to show it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
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


SERVER_KERNEL = """
import asyncio
from jupyter_server.serverapp import ServerApp
app = ServerApp()
app.initialize(argv=["--ServerApp.port=0", "--ServerApp.open_browser=False", "--ServerApp.root_dir=."])
async def main():
    kernel = await app.kernel_manager.start_kernel(kernel_name="python3")
    provisioner = app.kernel_manager.get_kernel(kernel).provisioner
    print("provisioner", type(provisioner).__name__, len(provisioner._held))
    await app.kernel_manager.shutdown_kernel(kernel, now=True)
asyncio.run(main())
"""


def test_kernels_hold_their_ports_in_the_learners_server(tmp_path):
    """A Jupyter server with this configuration (in a process of its own, as a learner's runs)
    starts its kernels with the held-ports provisioner (hubconfig/kernelports.py)."""
    env = {**os.environ, "JUPYTER_CONFIG_PATH": str(CONFIG.parent), "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", SERVER_KERNEL], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert "provisioner HeldPortsProvisioner 5" in done.stdout, done.stderr[-3000:]
