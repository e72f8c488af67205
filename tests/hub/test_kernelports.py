"""A kernel's ports are held by its server from their choice until the kernel ends.

jupyter_client lets a chosen port go until the kernel binds it, a second or more later: in a
forty-learner storm another kernel took one, and the kernel died after five restarts on it.
"""

from __future__ import annotations

import asyncio
import socket
import uuid

from jupyter_client.manager import AsyncKernelManager

from hubconfig.kernelports import PORT_NAMES, HeldPortsProvisioner


def _bind_refused(port: int) -> bool:
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        return True
    finally:
        sock.close()
    return False


def test_a_kernels_ports_are_nobody_elses_until_it_ends(tmp_path):
    async def scenario() -> None:
        km = AsyncKernelManager(kernel_name="python3", connection_file=str(tmp_path / f"kernel-{uuid.uuid4()}.json"))
        km.provisioner = HeldPortsProvisioner(kernel_id=str(uuid.uuid4()), kernel_spec=km.kernel_spec, parent=km)
        await km.provisioner.pre_launch()
        ports = [getattr(km, name) for name in PORT_NAMES]
        assert len(set(ports)) == 5 and all(ports)
        # Chosen, not yet bound by the kernel: anything else asking for a port is refused them.
        assert all(_bind_refused(port) for port in ports)
        await km.start_kernel()
        try:
            client = km.client()
            client.start_channels()
            await client.wait_for_ready(timeout=60)
            reply = await client.execute_interactive("1+1", timeout=60)
            assert reply["content"]["status"] == "ok"
            await km.restart_kernel(now=True, newports=True)  # what the restarter does
            await client.wait_for_ready(timeout=60)
            assert (await client.execute_interactive("2+2", timeout=60))["content"]["status"] == "ok"
            client.stop_channels()
        finally:
            await km.shutdown_kernel(now=True)
        # Given back with the kernel (a plain bind may still meet the kernel's connections in
        # TIME_WAIT, as after any TCP server; a server's bind, with SO_REUSEADDR, gets them).
        assert km.provisioner is None or not km.provisioner._held
        for port in ports:
            again = socket.socket()
            again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            again.bind(("127.0.0.1", port))
            again.listen(1)
            again.close()

    asyncio.run(scenario())
