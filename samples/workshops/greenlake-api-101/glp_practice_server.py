"""A tiny local imitation of a few HPE GreenLake platform APIs, for offline practice.

It is NOT the real service: the data is made up and only the behaviour the workshop needs is
imitated (OAuth2 client-credentials token, bearer authentication, offset/limit pagination,
simple filters, rate limiting with HTTP 429 and the ratelimit-* / Retry-After headers).
Only the Python standard library is used.

    from glp_practice_server import start_practice_server
    api_base, token_url = start_practice_server()

or as a process of its own (what the portal starts for each learner, see workshop.yml `lab:`):

    python3 glp_practice_server.py --port 8900
"""
import argparse
import base64
import json
import math
import re
import secrets
import sys
import threading
import time
from collections import deque
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

RATE_LIMIT = 8          # requests allowed ...
RATE_WINDOW = 4.0       # ... per this many seconds, per token
MAX_LIMIT = 100         # largest page size accepted
TOKEN_LIFETIME = 7200   # seconds

_NOW = datetime.now(timezone.utc).replace(microsecond=0)


def _iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


def _make_data():
    types = [("COMPUTE", "ProLiant DL360 Gen11"), ("COMPUTE", "ProLiant DL380 Gen11"),
             ("STORAGE", "Alletra Storage MP"), ("NETWORK", "Aruba CX 6300")]
    devices = []
    for i in range(57):
        device_type, model = types[i % len(types)]
        devices.append({
            "id": f"d0c0ffee-0000-4000-8000-{i:012d}",
            "type": "devices/device",
            "serialNumber": f"PRC{i:07d}",
            "partNumber": f"P{52000 + i % 4}-B21",
            "deviceType": device_type,
            "model": model,
            "region": "us-west" if i % 2 else "eu-central",
            "assignedState": "ASSIGNED_TO_SERVICE" if i % 5 else "UNASSIGNED",
            "createdAt": _iso(_NOW - timedelta(days=300 - i)),
        })
    subscriptions = []
    for i, (kind, tier) in enumerate([("CENTRAL_COMPUTE", "ENHANCED_PROLIANT"), ("CENTRAL_COMPUTE", "STANDARD_PROLIANT"),
                                      ("CENTRAL_STORAGE", "FOUNDATION"), ("CENTRAL_SWITCH", "ADVANCED"),
                                      ("CENTRAL_COMPUTE", "ENHANCED_PROLIANT"), ("CENTRAL_SWITCH", "FOUNDATION")]):
        subscriptions.append({
            "id": f"5ab5c0de-0000-4000-8000-{i:012d}",
            "type": "subscriptions/subscription",
            "key": f"PRACTICEKEY{i:04d}",
            "subscriptionType": kind,
            "tier": tier,
            "quantity": 10 * (i + 1),
            "availableQuantity": 3 * i,
            "startTime": _iso(_NOW - timedelta(days=200)),
            "endTime": _iso(_NOW + timedelta(days=30 * (i + 1))),
        })
    categories = ["User Management", "Device Management", "Subscription Management", "User Activity"]
    logs = []
    for i in range(130):
        category = categories[i % len(categories)]
        logs.append({
            "id": f"a0d17100-0000-4000-8000-{i:012d}",
            "type": "audit-log/log",
            "category": category,
            "description": f"Practice event #{i} ({category.lower()})",
            "createdAt": _iso(_NOW - timedelta(hours=2 * i)),
            "user": {"username": f"user{i % 7}@example.com"},
            "workspace": {"id": "practice-workspace", "workspaceName": "Practice workspace"},
            "additionalInfo": {"ipAddress": f"198.51.100.{i % 250}"},
            "hasDetails": False,
        })
    return devices, subscriptions, logs


DEVICES, SUBSCRIPTIONS, AUDIT_LOGS = _make_data()
_FILTER = re.compile(r"^\s*([\w/]+)\s+(eq|ge|lt)\s+'([^']*)'\s*$")


def _apply_filter(items, expression):
    """Support a tiny subset of the filter language: clauses 'field eq|ge|lt value' joined by 'and'."""
    for clause in (expression or "").split(" and "):
        if not clause.strip():
            continue
        match = _FILTER.match(clause)
        if not match:
            raise ValueError(f"Unsupported filter clause: {clause!r}")
        field, op, value = match.groups()

        def get(item, path=field):
            for part in path.split("/"):
                item = item.get(part, {}) if isinstance(item, dict) else {}
            return item if not isinstance(item, dict) else None

        if op == "eq":
            items = [i for i in items if str(get(i)) == value]
        elif op == "ge":
            items = [i for i in items if get(i) is not None and str(get(i)) >= value]
        else:
            items = [i for i in items if get(i) is not None and str(get(i)) < value]
    return items


def _jwt(claims):
    def enc(part):
        return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
    return f"{enc({'alg': 'none', 'typ': 'JWT'})}.{enc(claims)}.{secrets.token_urlsafe(16)}"



class _QuietServer(ThreadingHTTPServer):
    """Threaded HTTP server that ignores clients hanging up early (for example after a timeout)."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

class _State:
    def __init__(self):
        self.tokens = {}      # token -> expiry (epoch seconds)
        self.calls = {}       # token -> deque of request times
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    state = None  # set by start_practice_server

    def log_message(self, *args):
        pass

    def _send(self, status, body=None, headers=None):
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status, code, message, headers=None):
        self._send(status, {"httpStatusCode": status, "errorCode": code, "message": message,
                            "debugId": secrets.token_hex(8)}, headers)

    def do_POST(self):
        if urlsplit(self.path).path != "/as/token.oauth2":
            return self._error(404, "HPE_GL_ERROR_NOT_FOUND", "Not found")
        form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
        if form.get("grant_type", [""])[0] != "client_credentials":
            return self._send(400, {"error": "unsupported_grant_type"})
        if not form.get("client_id", [""])[0] or not form.get("client_secret", [""])[0]:
            return self._send(401, {"error": "invalid_client"})
        now = int(time.time())
        token = _jwt({"iss": "glp-practice-server", "sub": form["client_id"][0], "iat": now,
                      "exp": now + TOKEN_LIFETIME})
        with self.state.lock:
            self.state.tokens[token] = now + TOKEN_LIFETIME
        self._send(200, {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME})

    def do_GET(self):
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with self.state.lock:
            if self.state.tokens.get(token, 0) < time.time():
                return self._error(401, "HPE_GL_ERROR_UNAUTHORIZED", "Missing, invalid or expired access token")
            calls = self.state.calls.setdefault(token, deque())
            now = time.monotonic()
            while calls and now - calls[0] > RATE_WINDOW:
                calls.popleft()
            reset = math.ceil(RATE_WINDOW - (now - calls[0])) if calls else int(RATE_WINDOW)
            if len(calls) >= RATE_LIMIT:
                headers = {"Retry-After": reset, "ratelimit-limit": RATE_LIMIT, "ratelimit-remaining": 0,
                           "ratelimit-reset": reset}
                return self._error(429, "HPE_GL_ERROR_TOO_MANY_REQUESTS", "Too many requests", headers)
            calls.append(now)
            limits = {"ratelimit-limit": RATE_LIMIT, "ratelimit-remaining": RATE_LIMIT - len(calls),
                      "ratelimit-reset": reset}

        path = url.path.rstrip("/")
        collections = {"/devices/v1/devices": DEVICES, "/subscriptions/v1/subscriptions": SUBSCRIPTIONS,
                       "/audit-log/v1/logs": AUDIT_LOGS}
        if path.startswith("/workspaces/v1/workspaces/"):
            workspace_id = path.rsplit("/", 1)[-1]
            return self._send(200, {"id": workspace_id, "type": "STANDALONE", "workspaceName": "Practice workspace",
                                    "createdAt": _iso(_NOW - timedelta(days=400)),
                                    "createdBy": "admin@example.com"}, limits)
        if path not in collections:
            return self._error(404, "HPE_GL_ERROR_NOT_FOUND", f"No such resource: {path}", limits)
        try:
            items = _apply_filter(collections[path], query.get("filter"))
            offset = int(query.get("offset", 0))
            limit = int(query.get("limit", 20))
            if offset < 0 or not 1 <= limit <= MAX_LIMIT:
                raise ValueError(f"offset must be >= 0 and limit between 1 and {MAX_LIMIT}")
        except ValueError as exc:
            return self._error(400, "HPE_GL_ERROR_BAD_REQUEST", str(exc), limits)
        page = items[offset:offset + limit]
        self._send(200, {"items": page, "count": len(page), "offset": offset, "total": len(items)}, limits)


def start_practice_server(host="127.0.0.1", port=0):
    """Start the practice server in a background thread; return (api_base, token_url)."""
    handler = type("Handler", (_Handler,), {"state": _State()})
    server = _QuietServer((host, port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://{host}:{server.server_address[1]}"
    return base, f"{base}/as/token.oauth2"


def main(argv=None):
    """Serve in the foreground on 127.0.0.1 until stopped (state lives as long as the process)."""
    parser = argparse.ArgumentParser(description="Local practice imitation of a few HPE GreenLake APIs.")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    handler = type("Handler", (_Handler,), {"state": _State()})
    server = _QuietServer((args.host, args.port), handler)
    print(f"GreenLake practice API on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
