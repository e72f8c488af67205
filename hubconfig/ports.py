"""Ports held from their choice until the server or kernel they are for has bound them (pure: sockets only).

JupyterHub's `random_port()` and jupyter_client's port cache bind port 0 and close the socket at
once; the server or kernel binds the port a second or more later, and anything else may take it
in between (jupyterhub#3005). A socket bound with SO_REUSEADDR and never listening keeps the
port from every other bind(0) and outgoing connection, while the server's or kernel's own bind
(Tornado and libzmq set SO_REUSEADDR) still gets it: that is Linux's rule (socket(7)).
Used by `hubconfig/spawners.py` (a server's port, held by the hub) and `hubconfig/kernelports.py`
(a kernel's five, held by its server).
"""

from __future__ import annotations

import socket
import sys


def port_hold(ip: str) -> socket.socket:
    """Return a socket bound to a free port of ip ("" or "0.0.0.0": every IPv4 address; "::" or
    "::1": IPv6), with SO_REUSEADDR and not listening, so the server or kernel the port is for
    still binds it and nothing else is given it.

    Raises OSError when ports cannot be held this way here: not Linux (elsewhere SO_REUSEADDR
    does not let a second socket bind the same address and port), an address of no family this
    system binds, or no free port left. Callers then choose ports as before, unheld.
    """
    if not sys.platform.startswith("linux"):
        raise OSError("ports are held on Linux only")
    if not ip:
        # Every address: a server then binds IPv6 as well as IPv4 (Tornado binds each family
        # getaddrinfo gives), so the port is held in both, with one dual-stack socket if IPv6 is on.
        try:
            return _bound(socket.AF_INET6, "::", dual=True)
        except OSError:
            return _bound(socket.AF_INET, "", dual=False)
    return _bound(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip, dual=False)


def _bound(family: socket.AddressFamily, ip: str, *, dual: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if dual:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((ip, 0))
    except OSError:
        sock.close()
        raise
    return sock


def close_all(socks: list[socket.socket]) -> None:
    """Close every socket of socks and empty the list."""
    for sock in socks:
        sock.close()
    socks.clear()


def ports_hold(ip: str, count: int) -> list[socket.socket]:
    """Return count sockets holding distinct free ports of ip (port_hold); OSError as there."""
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            held.append(port_hold(ip))
    except OSError:
        close_all(held)
        raise
    return held
