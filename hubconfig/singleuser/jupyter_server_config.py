"""Configuration of each learner's JupyterLab (loaded through JUPYTER_CONFIG_PATH)."""

import atexit
import gc
import importlib.util
import logging
import os
import signal
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

c = get_config()  # noqa: F821 - provided by Jupyter's config loader

# Learners are in a workshop: no news or update pop-up over the first notebook.
c.LabApp.news_url = None
# Learners do not install JupyterLab extensions in a workshop (and a server here has no route
# to PyPI): the read-only manager lists what is installed without querying an index.
c.LabApp.extension_manager = "readonly"
c.LabApp.app_settings_dir = str(Path(__file__).resolve().parent / "lab-settings")
# The per-learner lab (hubconfig/labext.py: services, portal-lab/status, portal-lab/fill; inert
# without PORTAL_LAB_* in the environment) and jupyter-server-proxy (proxy/<port>/ for a lab
# service's web UI), where installed: an image without the project's package still starts.
c.ServerApp.jpserver_extensions.update(
    {name: True for name in ("hubconfig.labext", "jupyter_server_proxy") if importlib.util.find_spec(name)}
)
# jupyter-lsp (a JupyterLab dependency) looks for language servers every time a server starts,
# scanning every installed package's entry points: a quarter of a forked server's start-up CPU
# (py-spy over a 40-learner storm), for JupyterLab's LSP features, which are off by default and
# need a language server to work. Loaded only where one is installed.
if not any(importlib.util.find_spec(name) for name in ("pylsp", "jedi_language_server")):
    c.ServerApp.jpserver_extensions.update({"jupyter_lsp": False})


def _registered(group: str, name: str) -> bool:
    """Tell whether this project's package registers the entry point (reads its own metadata only)."""
    try:
        return any(ep.group == group and ep.name == name for ep in distribution("notebooks-portal").entry_points)
    except PackageNotFoundError:
        return False


# Kernels keep their ports from their choice until they end (hubconfig/kernelports.py): forty
# servers starting kernels at once gave one kernel's port to another, which then died.
if _registered("jupyter_client.kernel_provisioners", "held-ports-provisioner"):
    c.KernelProvisionerFactory.default_provisioner_name = "held-ports-provisioner"

# --- Fast stops -------------------------------------------------------------------------------
# The hub stops a server with SIGINT. After that the process spent ~1 CPU-second in the
# interpreter's final garbage collection over JupyterLab's large heap, then tens of ms tearing
# down modules (py-spy: gc_collect_main, SSL_CTX_free): ten servers culled at once kept a
# 2-core host busy for 5 s. Once a stop was asked for and the server has wound down (its
# atexit handlers registered after this file ran, logging flushed), the process ends at once.
# Any other exit (an error at start-up, say) keeps the normal path and its exit status.
_stop_asked = False


def _interrupted(signum, frame):
    """Do what Python's default SIGINT handler does, remembering that a stop was asked for."""
    global _stop_asked
    _stop_asked = True
    raise KeyboardInterrupt


def _exit_now() -> None:
    """End a stopped server without the interpreter's teardown."""
    if not _stop_asked:
        gc.freeze()  # still spare the final collection its walk over the whole heap
        return
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # what the SIGINT path returns anyway: the server's start() returned normally


# The hub's SIGINT must stop the server however the hub was started. A hub started from a
# shell in the background (`make start &`, CI without a terminal) passes SIGINT on *ignored*
# (POSIX: background jobs ignore it, and exec keeps ignored signals ignored); Python then
# leaves it ignored and Jupyter only handles SIGINT itself with a terminal on stdin, so the
# server ignored every stop until the spawner's SIGTERM seconds later. Whatever the inherited
# disposition (default, ignored), the server gets the plain stop-on-SIGINT; only a handler
# someone installed on purpose (Jupyter's interactive one, with a terminal) is left alone.
if signal.getsignal(signal.SIGINT) in (signal.default_int_handler, signal.SIG_IGN, signal.SIG_DFL):
    signal.signal(signal.SIGINT, _interrupted)
atexit.register(_exit_now)
