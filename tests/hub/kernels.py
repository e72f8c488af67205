"""Run code in a learner's kernel on the real hub, as JupyterLab does (REST + kernel websocket)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx

from tests.hub.conftest import Hub


def execute_request(code: str, *, session: str) -> str:
    """Return a Jupyter messaging protocol (5.3) execute_request for the kernel websocket."""
    return json.dumps({
        "header": {"msg_id": uuid.uuid4().hex, "username": "tester", "session": session,
                   "msg_type": "execute_request", "version": "5.3", "date": ""},
        "parent_header": {}, "metadata": {}, "buffers": [], "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
    })  # fmt: skip


def kernel_start(hub: Hub, user: str) -> tuple[str, str]:
    """Start a python3 kernel in user's server; return (kernels API URL, kernel id)."""
    base = f"{hub.url}/user/{user}/api/kernels"
    response = httpx.post(base, json={"name": "python3"}, headers=_headers(hub), timeout=60)
    assert response.status_code == 201, response.text
    return base, response.json()["id"]


def _headers(hub: Hub) -> dict[str, str]:
    return {"Authorization": f"token {hub.tester_token}"}


def kernel_run(hub: Hub, user: str, code: str, *, timeout: float = 60) -> str:
    """Run code in a new kernel of user's server; return what it printed (stdout)."""
    base, kernel = kernel_start(hub, user)

    async def run() -> str:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        url = base.replace("http://", "ws://") + f"/{kernel}/channels"
        ws = await websocket_connect(HTTPRequest(url, headers=_headers(hub)))
        request = execute_request(code, session=uuid.uuid4().hex)
        msg_id = json.loads(request)["header"]["msg_id"]
        await ws.write_message(request)
        out, deadline = [], time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                msg = json.loads(await asyncio.wait_for(ws.read_message(), timeout))
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue  # the kernel's start-up status messages
                kind = msg.get("msg_type")
                if kind == "stream" and msg["content"].get("name") == "stdout":
                    out.append(msg["content"]["text"])
                elif kind == "error":
                    raise AssertionError("\n".join(msg["content"].get("traceback", [])))
                elif kind == "status" and msg["content"].get("execution_state") == "idle":
                    # Idle on iopub comes after every output of the request (the shell channel's
                    # execute_reply may overtake them).
                    return "".join(out)
        finally:
            ws.close()
        raise AssertionError(f"no execute_reply in {timeout} s")

    return asyncio.run(run())
