"""A small local JSON API for the "Python 101 for API users" workshop.

Start it from a notebook; it runs in a background thread and needs no internet access:

    from lab_api_server import start_server
    server = start_server()
    print(server.url, server.api_key)

Endpoints (all JSON):
    GET  /api/servers                 list servers; optional ?status=OK|Warning|Critical
    GET  /api/servers/<id>            one server, or 404
    POST /api/servers                 create a server; needs the X-API-Key header; body {"name": ..., "model": ...}
    GET  /api/flaky                   fails with 503 as many times as requested by server.fail_next(n)
    GET  /api/limited                 answers 429 (with Retry-After) above 3 calls per 2 seconds
    GET  /api/slow?seconds=N          waits N seconds before answering (to try timeouts)
"""
import json
import secrets
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_SEED = [
    {"id": 1, "name": "dl360-01", "model": "ProLiant DL360 Gen11", "status": "OK", "memory_gib": 256},
    {"id": 2, "name": "dl380-01", "model": "ProLiant DL380 Gen11", "status": "Warning", "memory_gib": 512},
    {"id": 3, "name": "dl325-01", "model": "ProLiant DL325 Gen11", "status": "OK", "memory_gib": 384},
    {"id": 4, "name": "dl380-02", "model": "ProLiant DL380 Gen11", "status": "Critical", "memory_gib": 1024},
]



class _QuietServer(ThreadingHTTPServer):
    """Threaded HTTP server that ignores clients hanging up early (for example after a timeout)."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

class LabServer:
    """Handle on a running lab API server."""

    def __init__(self, httpd, api_key):
        self._httpd = httpd
        self.api_key = api_key
        self.url = f"http://127.0.0.1:{httpd.server_address[1]}"

    def fail_next(self, count):
        """Make the next `count` calls to /api/flaky fail with HTTP 503."""
        self._httpd.state["flaky_failures"] = count

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    server_version = "LabAPI/1.0"

    def log_message(self, *args):  # keep notebook output clean
        pass

    @property
    def state(self):
        return self.server.state

    def _send(self, status, body, headers=None):
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        with self.state["lock"]:
            servers = list(self.state["servers"])

        if parts == ["api", "servers"]:
            items = [s for s in servers if "status" not in query or s["status"] == query["status"]]
            return self._send(200, {"items": items, "count": len(items)})
        if len(parts) == 3 and parts[:2] == ["api", "servers"]:
            match = [s for s in servers if str(s["id"]) == parts[2]]
            if match:
                return self._send(200, match[0])
            return self._send(404, {"error": "not_found", "message": f"No server with id {parts[2]}"})
        if parts == ["api", "flaky"]:
            with self.state["lock"]:
                failing = self.state["flaky_failures"] > 0
                if failing:
                    self.state["flaky_failures"] -= 1
            if failing:
                return self._send(503, {"error": "unavailable", "message": "Temporarily unavailable, try again"})
            return self._send(200, {"status": "ok"})
        if parts == ["api", "limited"]:
            now = time.monotonic()
            with self.state["lock"]:
                calls = self.state["limited_calls"]
                while calls and now - calls[0] > 2:
                    calls.popleft()
                if len(calls) >= 3:
                    return self._send(429, {"error": "rate_limited", "message": "Too many requests"},
                                      {"Retry-After": 1})
                calls.append(now)
            return self._send(200, {"status": "ok", "remaining": 3 - len(calls)})
        if parts == ["api", "slow"]:
            time.sleep(min(float(query.get("seconds", 2)), 10))
            return self._send(200, {"status": "finally"})
        return self._send(404, {"error": "not_found", "message": f"Unknown path {url.path}"})

    def do_POST(self):
        if urlsplit(self.path).path.rstrip("/") != "/api/servers":
            return self._send(404, {"error": "not_found", "message": "Unknown path"})
        if self.headers.get("X-API-Key") != self.state["api_key"]:
            return self._send(401, {"error": "unauthorized", "message": "Missing or wrong X-API-Key header"})
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")
        except json.JSONDecodeError:
            return self._send(400, {"error": "bad_request", "message": "The body is not valid JSON"})
        if not isinstance(body, dict) or not body.get("name"):
            return self._send(400, {"error": "bad_request", "message": "A JSON object with a 'name' is required"})
        with self.state["lock"]:
            new = {"id": max(s["id"] for s in self.state["servers"]) + 1, "name": body["name"],
                   "model": body.get("model", "unknown"), "status": "OK", "memory_gib": body.get("memory_gib", 0)}
            self.state["servers"].append(new)
        self._send(201, new, {"Location": f"/api/servers/{new['id']}"})


def start_server(port=0):
    """Start the lab API on 127.0.0.1 (any free port by default) and return a LabServer."""
    httpd = _QuietServer(("127.0.0.1", port), _Handler)
    api_key = secrets.token_urlsafe(12)
    httpd.state = {"lock": threading.Lock(), "servers": [dict(s) for s in _SEED], "api_key": api_key,
                   "flaky_failures": 0, "limited_calls": deque()}
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return LabServer(httpd, api_key)
