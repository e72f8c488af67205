"""Ports held for a server on every address family it binds (hubconfig/ports.py)."""

from __future__ import annotations

import socket

import pytest
from tornado.netutil import bind_sockets

from hubconfig.ports import port_hold


def _ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def _given_by_the_system(family: socket.AddressFamily, count: int = 500) -> set[int]:
    """Return the ports count bind(0) calls on loopback got (what a kernel or a client asks for)."""
    asked = []
    try:
        for _ in range(count):
            sock = socket.socket(family)
            sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
            asked.append(sock)
        return {sock.getsockname()[1] for sock in asked}
    finally:
        for sock in asked:
            sock.close()


@pytest.mark.parametrize("ip", ["127.0.0.1", "::1"])
def test_a_held_port_is_the_servers_own(ip):
    if ":" in ip and not _ipv6():
        pytest.skip("this system has no IPv6")
    held = port_hold(ip)
    port = held.getsockname()[1]
    try:
        assert port not in _given_by_the_system(held.family)
        servers = bind_sockets(port, ip)  # what Tornado does for jupyter_server
        for server in servers:
            server.listen(4)
        socket.create_connection((ip, port), timeout=2).close()
        for server in servers:
            server.close()
    finally:
        held.close()


def test_a_server_on_every_address_has_its_port_held_in_both_families():
    """Spawner.ip "" (every address): Tornado binds IPv4 and IPv6, so both are held."""
    held = port_hold("")
    port = held.getsockname()[1]
    try:
        assert port not in _given_by_the_system(socket.AF_INET)
        if _ipv6():
            assert held.family == socket.AF_INET6
            assert port not in _given_by_the_system(socket.AF_INET6)
    finally:
        held.close()
