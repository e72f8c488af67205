"""A fake GitHub: a real HTTP server on 127.0.0.1 with GitHub's OAuth and REST shapes.

Routes live in one table (`FakeGitHub.routes`); add one with `fake.route("GET", r"/repos/...")`.
The REST API answers both at `/api/v3/...` (GitHub Enterprise layout, which oauthenticator and
PyGithub use for a non-github.com base URL) and at the root.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit


@dataclass
class Request:
    """What a handler gets: the parsed request and the route's match."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    match: re.Match

    @property
    def form(self) -> dict[str, str]:
        """Return a form-encoded or JSON body as a flat dict."""
        if self.headers.get("content-type", "").startswith("application/json"):
            return json.loads(self.body or b"{}")
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}

    @property
    def token(self) -> str:
        """Return the bearer token of the request, if any."""
        value = self.headers.get("authorization", "")
        return value.split(None, 1)[1] if " " in value else ""


@dataclass
class Response:
    """What a handler returns."""

    status: int = 200
    body: Any = None  # JSON-serialisable, bytes, or None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Response]


@dataclass
class GitHubUser:
    """A GitHub account of the fake."""

    login: str
    id: int
    name: str = ""
    email: str | None = None


class FakeGitHub:
    """GitHub's OAuth authorize / token endpoints and the REST endpoints oauthenticator calls."""

    def __init__(
        self,
        *,
        client_id: str = "fake-client-id",
        client_secret: str = "fake-client-secret",  # noqa: S107
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.users: dict[str, GitHubUser] = {}
        self.org_members: dict[str, set[str]] = {}
        self.approve_as = ""  # the account the authorize page signs in, without asking
        self.codes: dict[str, str] = {}
        self.tokens: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []
        self.routes: list[tuple[str, re.Pattern, Handler]] = []
        self._server: ThreadingHTTPServer | None = None
        self.route("GET", r"/login/oauth/authorize", self._authorize)
        self.route("POST", r"/login/oauth/access_token", self._access_token)
        self.route("GET", r"/user", self._user)
        self.route("GET", r"/user/orgs", self._user_orgs)
        self.route("GET", r"/orgs/(?P<org>[^/]+)/members/(?P<login>[^/]+)", self._org_member)

    # --- set-up -------------------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Serve method + path pattern (a full-match regex) with handler; later routes win."""
        self.routes.insert(0, (method.upper(), re.compile(pattern), handler))

    def add_user(self, login: str, *, orgs: tuple[str, ...] = (), name: str = "") -> GitHubUser:
        """Create an account, member of orgs."""
        user = GitHubUser(login=login, id=1000 + len(self.users), name=name or login.title())
        self.users[login] = user
        for org in orgs:
            self.org_members.setdefault(org, set()).add(login)
        return user

    @property
    def url(self) -> str:
        """Return the base URL (what GITHUB_URL is set to)."""
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeGitHub:
        """Serve on a free port of 127.0.0.1 in a thread."""
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                fake._dispatch(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    # --- dispatch -----------------------------------------------------------------------------
    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        path = parts.path
        if path.startswith("/api/v3/"):
            path = path[len("/api/v3") :]
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        self.calls.append((h.command, path))
        response = Response(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
        for method, pattern, handler in self.routes:
            match = pattern.fullmatch(path)
            if match and method == h.command:
                request = Request(
                    method=h.command,
                    path=path,
                    query={k: v[0] for k, v in parse_qs(parts.query).items()},
                    headers={k.lower(): v for k, v in h.headers.items()},
                    body=body,
                    match=match,
                )
                response = handler(request)
                break
        payload = response.body
        if payload is not None and not isinstance(payload, bytes):
            payload = json.dumps(payload).encode()
            response.headers.setdefault("Content-Type", "application/json; charset=utf-8")
        h.send_response(response.status)
        for key, value in response.headers.items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(payload or b"")))
        h.end_headers()
        if payload:
            h.wfile.write(payload)

    def login_for(self, request: Request) -> str | None:
        """Return the login a request's token belongs to."""
        return self.tokens.get(request.token)

    # --- OAuth --------------------------------------------------------------------------------
    def _authorize(self, request: Request) -> Response:
        """Approve at once as `approve_as` and send the browser back with a code and the state."""
        if request.query.get("client_id") != self.client_id:
            return Response(400, b"unknown client_id")
        login = self.approve_as
        if login not in self.users:
            return Response(403, b"no account signed in on the fake GitHub")
        code = secrets.token_hex(10)
        self.codes[code] = login
        back = request.query["redirect_uri"]
        query = urlencode({"code": code, "state": request.query.get("state", "")})
        return Response(302, None, {"Location": f"{back}{'&' if '?' in back else '?'}{query}"})

    def _access_token(self, request: Request) -> Response:
        """Exchange a code (once) for a token, checking the client's credentials."""
        form = {**request.query, **request.form}
        if (form.get("client_id"), form.get("client_secret")) != (
            self.client_id,
            self.client_secret,
        ):
            return Response(200, {"error": "incorrect_client_credentials"})
        login = self.codes.pop(form.get("code", ""), None)
        if login is None:
            return Response(200, {"error": "bad_verification_code"})
        token = "gho_" + secrets.token_hex(16)
        self.tokens[token] = login
        return Response(200, {"access_token": token, "token_type": "bearer", "scope": "read:org,read:user"})

    # --- REST ---------------------------------------------------------------------------------
    def _user(self, request: Request) -> Response:
        login = self.login_for(request)
        if login is None:
            return Response(401, {"message": "Requires authentication"})
        u = self.users[login]
        return Response(200, {"login": u.login, "id": u.id, "name": u.name, "email": u.email, "type": "User"})

    def _user_orgs(self, request: Request) -> Response:
        login = self.login_for(request)
        if login is None:
            return Response(401, {"message": "Requires authentication"})
        orgs = [org for org, members in self.org_members.items() if login in members]
        return Response(200, [{"login": org, "id": 500 + i} for i, org in enumerate(sorted(orgs))])

    def _org_member(self, request: Request) -> Response:
        if self.login_for(request) is None:
            return Response(401, {"message": "Requires authentication"})
        org, login = request.match["org"], request.match["login"]
        return Response(204) if login in self.org_members.get(org, set()) else Response(404, {"message": "Not Found"})
