"""A kernel provisioner that holds its kernel's ports from their choice until the kernel ends.

jupyter_client picks a kernel's five TCP ports by binding port 0 and closing the socket
(`LocalPortCache`, per server process), and the kernel binds them a second or more later. On one
host with forty learners' servers starting kernels at once, another server's kernel (or an
outgoing connection) took a port in between: "Address already in use", and since the cached
ports are reused on every restart, the kernel restarted five times on the same taken port and
died (seen in `bench/launch_storm.py`; jupyterhub#3005 describes the same race for servers).

`HeldPortsProvisioner` keeps a socket bound to each port (SO_REUSEADDR, never listening) while
the kernel lives: the kernel still binds them (libzmq sets SO_REUSEADDR too), nothing else is
given them, and a restart finds them free again. Registered as the entry point
`held-ports-provisioner` (pyproject.toml); the learner's server makes it the default
(hubconfig/singleuser/jupyter_server_config.py).
"""

from __future__ import annotations

import socket
import weakref
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

from hubconfig.ports import close_all, ports_hold

PORT_NAMES = ("shell_port", "iopub_port", "stdin_port", "hb_port", "control_port")


class HeldPortsProvisioner(LocalProvisioner):
    """LocalProvisioner whose kernel's ports stay held by the server until the kernel ends."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._held: list[socket.socket] = []
        # A kernel that died past its restarts, or never started, is dropped without cleanup():
        # its sockets close when the provisioner goes, not at the next garbage collection.
        weakref.finalize(self, close_all, self._held)

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        km = self.parent
        if km is not None and km.transport == "tcp" and not self._held:
            try:
                self._held.extend(ports_hold(km.ip or "127.0.0.1", len(PORT_NAMES)))
            except OSError as error:
                self.log.warning("Kernel ports not held (%s): chosen unheld", error)
            else:
                for name, sock in zip(PORT_NAMES, self._held, strict=True):
                    setattr(km, name, sock.getsockname()[1])
                # Chosen: LocalProvisioner must not pick (and later return) ports of its cache.
                self.ports_cached = True
        return await super().pre_launch(**kwargs)

    async def cleanup(self, restart: bool = False) -> None:
        if not restart and self._held:
            close_all(self._held)
            self.ports_cached = False  # nothing to give back to LocalPortCache
        await super().cleanup(restart=restart)
