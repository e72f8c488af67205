"""A fake GitHub REST API: a real HTTP server on 127.0.0.1 for the endpoints PyGithub calls.

Payloads follow the shapes in GitHub's REST documentation (trimmed to the fields used).
Every request is recorded; `rate_limit_next(n)` answers the next n requests with GitHub's
403 secondary-rate-limit response.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeRepo:
    """The state of one repository on the fake."""

    owner: str
    name: str
    default_branch: str = "main"
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    files: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    hooks: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


class FakeGitHub:
    """The server, its repositories and the log of requests."""

    def __init__(self, token: str = "test-token") -> None:  # noqa: S107
        self.token = token
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[Recorded] = []
        self._rate_limited = 0
        self._next_id = 1000
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def start(self) -> FakeGitHub:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- state set-up ----------------------------------------------------------------------

    def repo_add(self, full_name: str, **kwargs: Any) -> FakeRepo:
        owner, name = full_name.split("/")
        repo = FakeRepo(owner, name, **kwargs)
        self.repos[full_name.lower()] = repo
        return repo

    def pull_add(self, full_name: str, number: int, *, head_sha: str, files: list[str], base: str = "main") -> None:
        repo = self.repos[full_name.lower()]
        repo.pulls[number] = {"number": number, "head_sha": head_sha, "base": base}
        repo.files[number] = [
            {
                "sha": "0" * 40,
                "filename": name,
                "status": "modified",
                "additions": 1,
                "deletions": 0,
                "changes": 1,
                "blob_url": f"https://github.com/{full_name}/blob/{head_sha}/{name}",
                "raw_url": f"https://github.com/{full_name}/raw/{head_sha}/{name}",
                "contents_url": f"{self.url}/repos/{full_name}/contents/{name}?ref={head_sha}",
                "patch": "@@ -1 +1 @@",
            }
            for name in files
        ]

    def rate_limit_next(self, count: int) -> None:
        """Answer the next count requests with a 403 secondary rate limit."""
        with self._lock:
            self._rate_limited = count

    def statuses(self, full_name: str, sha: str) -> list[dict[str, Any]]:
        return self.repos[full_name.lower()].statuses.get(sha, [])

    def calls(self, method: str, pattern: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]

    # --- payloads ------------------------------------------------------------------------

    def _repo_json(self, repo: FakeRepo) -> dict[str, Any]:
        api = f"{self.url}/repos/{repo.full_name}"
        return {
            "id": 1296269,
            "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
            "name": repo.name,
            "full_name": repo.full_name,
            "owner": {
                "login": repo.owner,
                "id": 1,
                "type": "Organization",
                "url": f"{self.url}/users/{repo.owner}",
            },
            "private": False,
            "html_url": f"https://github.com/{repo.full_name}",
            "description": "Workshops",
            "url": api,
            "hooks_url": f"{api}/hooks",
            "statuses_url": f"{api}/statuses/{{sha}}",
            "default_branch": repo.default_branch,
            "clone_url": f"https://github.com/{repo.full_name}.git",
        }

    def _hook_json(self, repo: FakeRepo, hook: dict[str, Any]) -> dict[str, Any]:
        api = f"{self.url}/repos/{repo.full_name}/hooks/{hook['id']}"
        config = {k: v for k, v in hook["config"].items() if k != "secret"}
        if "secret" in hook["config"]:
            config["secret"] = "********"  # GitHub never returns the secret itself
        return {
            "type": "Repository",
            "id": hook["id"],
            "name": "web",
            "active": hook["active"],
            "events": hook["events"],
            "config": config,
            "updated_at": "2024-01-01T00:00:00Z",
            "created_at": "2024-01-01T00:00:00Z",
            "url": api,
            "test_url": f"{api}/test",
            "ping_url": f"{api}/pings",
            "deliveries_url": f"{api}/deliveries",
            "last_response": {"code": None, "status": "unused", "message": None},
        }

    # --- the HTTP handler ----------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
                body = b"" if data is None else json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-RateLimit-Limit", "5000")
                self.send_header("X-RateLimit-Remaining", "4999")
                self.send_header("X-RateLimit-Reset", "4102444800")
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                path = self.path.split("?", 1)[0]
                with fake._lock:
                    fake.requests.append(Recorded(method, path, dict(self.headers), body))
                    limited = fake._rate_limited > 0
                    if limited:
                        fake._rate_limited -= 1
                if limited:
                    return self._send(
                        403,
                        {
                            "message": "You have exceeded a secondary rate limit. "
                            "Please wait a few "
                            "minutes before you try again.",
                            "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                        },
                        {"Retry-After": "1"},
                    )
                if (
                    self.headers.get("Authorization") != f"token {fake.token}"
                    and self.headers.get("Authorization") != f"Bearer {fake.token}"
                ):
                    return self._send(401, {"message": "Bad credentials"})
                match = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)?", path)
                repo = fake.repos.get(f"{match[1]}/{match[2]}".lower()) if match else None
                if repo is None:
                    return self._send(404, {"message": "Not Found"})
                rest = match[3] or ""
                return self._route(method, repo, rest, body)

            def _route(self, method: str, repo: FakeRepo, rest: str, body: Any) -> None:
                if method == "GET" and rest == "":
                    return self._send(200, fake._repo_json(repo))
                if m := re.fullmatch(r"/pulls/(\d+)", rest):
                    pr = repo.pulls.get(int(m[1]))
                    if pr is None:
                        return self._send(404, {"message": "Not Found"})
                    return self._send(200, {
                        "url": f"{fake.url}/repos/{repo.full_name}/pulls/{pr['number']}",
                        "number": pr["number"], "state": "open", "title": "A change",
                        "head": {"ref": "feature", "sha": pr["head_sha"]},
                        "base": {"ref": pr["base"], "sha": "0" * 40},
                    })  # fmt: skip
                if m := re.fullmatch(r"/pulls/(\d+)/files", rest):
                    return self._send(200, repo.files.get(int(m[1]), []))
                if m := re.fullmatch(r"/commits/([0-9a-f]{40})", rest):
                    return self._send(
                        200,
                        {"sha": m[1], "url": f"{fake.url}/repos/{repo.full_name}/commits/{m[1]}"},
                    )
                if method == "POST" and (m := re.fullmatch(r"/statuses/([0-9a-f]{40})", rest)):
                    if body.get("state") not in ("error", "failure", "pending", "success"):
                        return self._send(422, {"message": "Validation Failed"})
                    with fake._lock:
                        fake._next_id += 1
                        status = {
                            "id": fake._next_id,
                            "url": f"{fake.url}/repos/{repo.full_name}/statuses/{m[1]}",
                            "state": body["state"],
                            "description": body.get("description"),
                            "target_url": body.get("target_url"),
                            "context": body.get("context", "default"),
                            "created_at": "2024-01-01T00:00:00Z",
                            "updated_at": "2024-01-01T00:00:00Z",
                        }
                        repo.statuses.setdefault(m[1], []).append(status)
                    return self._send(201, status)
                if rest == "/hooks" and method == "GET":
                    return self._send(200, [fake._hook_json(repo, h) for h in repo.hooks.values()])
                if rest == "/hooks" and method == "POST":
                    with fake._lock:
                        fake._next_id += 1
                        hook = {
                            "id": fake._next_id,
                            "config": body["config"],
                            "events": body.get("events", ["push"]),
                            "active": body.get("active", True),
                        }
                        repo.hooks[hook["id"]] = hook
                    return self._send(201, fake._hook_json(repo, hook))
                if (m := re.fullmatch(r"/hooks/(\d+)", rest)) and method in ("PATCH", "GET"):
                    hook = repo.hooks.get(int(m[1]))
                    if hook is None:
                        return self._send(404, {"message": "Not Found"})
                    if method == "PATCH":
                        hook["config"] = body.get("config", hook["config"])
                        hook["events"] = body.get("events", hook["events"])
                        hook["active"] = body.get("active", hook["active"])
                    return self._send(200, fake._hook_json(repo, hook))
                return self._send(404, {"message": "Not Found"})

            def do_GET(self) -> None:  # noqa: N802
                self._handle("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

            def do_PATCH(self) -> None:  # noqa: N802
                self._handle("PATCH")

        return Handler
