"""Helpers for the cull and admission tests: users, servers and busy kernels on the real hub."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.hub.conftest import Hub, wait_ready


def users_create(hub: Hub, names: list[str]) -> None:
    """Create hub users (one admin request); existing ones are fine."""
    with hub.api() as api:
        response = api.post("/users", json={"usernames": names})
        assert response.status_code in (201, 409), response.text


def servers_start(hub: Hub, names: list[str]) -> None:
    """Create users and start their servers at once; wait until all are ready."""
    users_create(hub, names)
    with hub.api() as api:
        for name in names:
            response = api.post(f"/users/{name}/server")
            assert response.status_code in (201, 202), response.text
    with ThreadPoolExecutor(len(names) or 1) as pool:
        list(pool.map(lambda n: wait_ready(hub, n, timeout=90), names))


def servers_running(hub: Hub) -> dict[str, dict]:
    """Return every user's default server the hub lists (running, starting or stopping)."""
    with hub.api() as api:
        users = api.get(
            "/users", params={"state": "active", "limit": 200},
            headers={"Accept": "application/jupyterhub-pagination+json"},
        ).json()["items"]  # fmt: skip
    return {u["name"]: u["servers"][""] for u in users if "" in u.get("servers", {})}


def servers_stop_all(hub: Hub, names: list[str]) -> None:
    """Stop these users' servers (clean-up) and wait until they are gone."""
    with hub.api() as api:
        for name in names:
            api.delete(f"/users/{name}/server")
    for name in names:
        hub.wait_stopped(name, timeout=60)


def kernel_make_busy(hub: Hub, user: str, seconds: int = 600) -> str:
    """Start a kernel in user's server and run a long cell in it; return the kernel id once busy."""
    headers = {"Authorization": f"token {hub.tester_token}"}
    base = f"{hub.url}/user/{user}/api/kernels"
    kernel = httpx.post(base, json={"name": "python3"}, headers=headers, timeout=60).json()["id"]

    async def execute() -> None:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        url = base.replace("http://", "ws://") + f"/{kernel}/channels"
        ws = await websocket_connect(HTTPRequest(url, headers=headers))
        session = uuid.uuid4().hex
        await ws.write_message(json.dumps({
            "header": {"msg_id": uuid.uuid4().hex, "username": "tester", "session": session,
                       "msg_type": "execute_request", "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "buffers": [], "channel": "shell",
            "content": {"code": f"import time; time.sleep({seconds})", "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        }))  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            msg = json.loads(await asyncio.wait_for(ws.read_message(), 60))
            if msg.get("msg_type") == "status" and msg["content"].get("execution_state") == "busy":
                break
        ws.close()

    asyncio.run(execute())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        states = {k["id"]: k["execution_state"] for k in httpx.get(base, headers=headers).json()}
        if states.get(kernel) == "busy":
            return kernel
        time.sleep(0.2)
    raise AssertionError(f"kernel never busy: {states}")
