"""A tiny local imitation of the HPE OneView REST API, for practice without an appliance.

It is NOT OneView: the data is made up and only what the workshop's labs call is imitated
(API versions, login sessions and the Auth header, server hardware, server profile templates and
profiles with start/count/filter/sort and nextPageUri, available targets, asynchronous tasks).
State lives in this process only: every start begins with the same twelve servers. Only the Python
standard library is used. Plain HTTP on 127.0.0.1; any user name and password log in.

    python3 practice_api.py --port 8810
    export ONEVIEW_PRACTICE_URL=http://127.0.0.1:8810

Launched from the portal, each learner has their own, already running (workshop.yml `lab:`).
"""

import argparse
import json
import re
import secrets
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

API_VERSION = 6000
MAX_COUNT = 500
MAX_BODY = 64 * 1024
TASK_SECONDS = 3.0  # how long a create or delete "runs"
SHT = "/rest/server-hardware-types/practice-dl360-gen11"
EG = "/rest/enclosure-groups/practice-eg"
_FILTER = re.compile(r"""^\s*"?\s*(\w+)\s*(=|<>)\s*'([^']*)'\s*"?\s*$""")


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class State:
    """Everything one practice appliance holds (one per process)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sessions = set()
        self.hardware = []
        for bay in range(1, 13):
            self.hardware.append({
                "type": "server-hardware-12", "uri": f"/rest/server-hardware/practice-{bay:02d}",
                "name": f"Encl1, bay {bay}", "model": "ProLiant DL360 Gen11" if bay % 4 else "ProLiant DL380 Gen11",
                "serialNumber": f"PRC00{bay:04d}", "powerState": "On" if bay % 3 else "Off",
                "status": "Warning" if bay == 7 else "OK", "state": "NoProfileApplied",
                "processorCount": 2, "memoryMb": 262144, "romVersion": "U46 v2.10 (practice)",
                "mpModel": "iLO6", "mpFirmwareVersion": "1.55", "serverHardwareTypeUri": SHT,
                "serverGroupUri": EG,
                "mpHostInfo": {"mpIpAddresses": [{"address": f"192.0.2.{100 + bay}", "type": "Static"}]},
            })
        self.templates = [
            {"type": "ServerProfileTemplateV8", "uri": f"/rest/server-profile-templates/practice-{name}",
             "name": title, "description": f"Practice template: {title}", "serverHardwareTypeUri": SHT,
             "enclosureGroupUri": EG, "bios": {"manageBios": True}, "boot": {"manageBoot": True}}
            for name, title in (("web", "Web tier DL360"), ("db", "Database DL360"))
        ]
        self.profiles = []
        self.tasks = []
        for bay, template, compliance in ((1, 0, "Compliant"), (2, 0, "NonCompliant"), (4, 1, "Compliant")):
            self._add_profile(f"practice-profile-{bay:02d}", self.hardware[bay - 1], self.templates[template], compliance)

    def _add_profile(self, name, hardware, template, compliance="Compliant"):
        profile = {
            "type": "ServerProfileV12", "uri": f"/rest/server-profiles/{uuid.uuid4()}", "name": name,
            "status": "OK", "state": "Normal", "templateCompliance": compliance,
            "serverHardwareUri": hardware["uri"] if hardware else None,
            "serverProfileTemplateUri": template["uri"] if template else None,
            "serverHardwareTypeUri": SHT, "enclosureGroupUri": EG, "created": _now(),
        }
        if hardware:
            hardware["state"] = "ProfileApplied"
        self.profiles.append(profile)
        return profile

    def add_task(self, name, resource):
        task = {"type": "TaskResourceV2", "uri": f"/rest/tasks/{uuid.uuid4()}", "name": name,
                "created": _now(), "started": time.monotonic(), "owner": "practice",
                "associatedResource": {"resourceName": resource["name"], "resourceUri": resource["uri"]}}
        self.tasks.append(task)
        return task

    @staticmethod
    def task_view(task):
        """Return a task as OneView shows it, its progress computed from its age."""
        done = min(1.0, (time.monotonic() - task["started"]) / TASK_SECONDS)
        view = {k: v for k, v in task.items() if k != "started"}
        if done >= 1.0:
            view.update(taskState="Completed", percentComplete=100, taskStatus=f"{task['name']} completed.")
        else:
            percent = max(10, int(done * 100))
            status = "Validating" if percent < 50 else "Applying settings"
            view.update(taskState="Running", percentComplete=percent, taskStatus=status)
        view["taskErrors"] = []
        return view


def _page(path, members, query):
    """Filter, sort and page a collection the way OneView does (start, count, filter, sort)."""
    for expression in query.get("filter", []):
        match = _FILTER.match(expression)
        if not match:
            raise ValueError(f"Unsupported filter: {expression!r}; use \"field='value'\"")
        field, op, value = match.groups()
        members = [m for m in members if (str(m.get(field)) == value) == (op == "=")]
    if query.get("sort"):
        field, _, direction = query["sort"][0].partition(":")
        members = sorted(members, key=lambda m: str(m.get(field, "")), reverse=direction.lower() == "descending")
    start = int(query.get("start", ["0"])[0])
    count = int(query.get("count", [str(MAX_COUNT)])[0])
    if start < 0 or not 0 < count <= MAX_COUNT:
        raise ValueError(f"start must be >= 0 and count between 1 and {MAX_COUNT}")
    page = members[start:start + count]

    def uri(at):
        return f"{path}?{urlencode([*[(k, v) for k, vs in query.items() if k not in ('start', 'count') for v in vs], ('start', at), ('count', count)])}"

    return {
        "type": "ResourceCollection", "uri": uri(start), "start": start, "count": len(page), "total": len(members),
        "members": page, "nextPageUri": uri(start + count) if start + count < len(members) else None,
        "prevPageUri": uri(max(0, start - count)) if start > 0 else None,
    }


class Handler(BaseHTTPRequestHandler):
    state = None  # set by serve()

    def log_message(self, *args):
        pass

    def _send(self, status, body=None, headers=None):
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status, code, message):
        self._send(status, {"errorCode": code, "message": message, "details": "", "recommendedActions": []})

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("request body too large")
        return json.loads(self.rfile.read(length) or b"{}") if length else {}

    def _authorized(self):
        with self.state.lock:
            if self.headers.get("Auth") in self.state.sessions:
                return True
        self._error(401, "AUTHORIZATION", "Authorization error: the Auth header holds no valid session ID.")
        return False

    def do_GET(self):  # noqa: N802 - http.server's name
        url = urlsplit(self.path)
        path, query = url.path.rstrip("/"), parse_qs(url.query)
        if path == "/rest/version":
            return self._send(200, {"currentVersion": API_VERSION, "minimumVersion": 120})
        if not self._authorized():
            return None
        state = self.state
        with state.lock:
            collections = {"/rest/server-hardware": state.hardware, "/rest/server-profile-templates": state.templates,
                           "/rest/server-profiles": state.profiles,
                           "/rest/tasks": [state.task_view(t) for t in state.tasks]}
            everything = {item["uri"]: item for items in collections.values() for item in items}
            if path == "/rest/appliance/nodeinfo/version":
                return self._send(200, {"family": "HPE OneView (practice)", "softwareVersion": "9.00.00-practice",
                                        "modelNumber": "Practice appliance", "serialNumber": "PRACTICE"})
            if path == "/rest/server-profiles/available-targets":
                wanted = query.get("serverHardwareTypeUri", [SHT])[0]
                targets = [{"serverHardwareUri": h["uri"], "serverHardwareName": h["name"], "enclosureGroupUri": EG,
                            "powerState": h["powerState"]}
                           for h in state.hardware
                           if h["serverHardwareTypeUri"] == wanted and h["state"] == "NoProfileApplied"]
                return self._send(200, {"type": "AvailableTargetsV3", "targets": targets})
            if path.endswith("/new-profile") and path.removesuffix("/new-profile") in everything:
                template = everything[path.removesuffix("/new-profile")]
                return self._send(200, {"type": "ServerProfileV12", "name": "", "serverHardwareUri": None,
                                        "serverProfileTemplateUri": template["uri"], "serverHardwareTypeUri": SHT,
                                        "enclosureGroupUri": EG, "bios": template["bios"], "boot": template["boot"]})
            try:
                if path in collections:
                    return self._send(200, _page(path, collections[path], query))
            except ValueError as exc:
                return self._error(400, "INVALID_PARAMETER", str(exc))
            if path in everything:
                item = everything[path]
                return self._send(200, item)
        return self._error(404, "RESOURCE_NOT_FOUND", f"The resource {path} was not found.")

    def do_POST(self):  # noqa: N802
        path = urlsplit(self.path).path.rstrip("/")
        try:
            body = self._body()
        except ValueError as exc:
            return self._error(400, "INVALID_JSON", str(exc))
        if path == "/rest/login-sessions":
            if not body.get("userName") or not body.get("password"):
                return self._error(400, "AUTHN_LOGIN_FAILURE", "userName and password are required.")
            session = secrets.token_urlsafe(24)
            with self.state.lock:
                self.state.sessions.add(session)
            return self._send(200, {"sessionID": session, "partnerData": {}})
        if not self._authorized():
            return None
        if path == "/rest/server-profiles":
            with self.state.lock:
                hardware = next((h for h in self.state.hardware if h["uri"] == body.get("serverHardwareUri")), None)
                if not body.get("name") or hardware is None or hardware["state"] != "NoProfileApplied":
                    return self._error(400, "INVALID_PARAMETER", "a name and an available serverHardwareUri are needed")
                template = next((t for t in self.state.templates
                                 if t["uri"] == body.get("serverProfileTemplateUri")), None)
                profile = self.state._add_profile(str(body["name"])[:100], hardware, template)
                task = self.state.add_task("Create", profile)
            return self._send(202, None, {"Location": task["uri"]})
        return self._error(404, "RESOURCE_NOT_FOUND", f"The resource {path} was not found.")

    def do_DELETE(self):  # noqa: N802
        path = urlsplit(self.path).path.rstrip("/")
        if path == "/rest/login-sessions":
            with self.state.lock:
                self.state.sessions.discard(self.headers.get("Auth"))
            return self._send(204)
        if not self._authorized():
            return None
        with self.state.lock:
            profile = next((p for p in self.state.profiles if p["uri"] == path), None)
            if profile is None:
                return self._error(404, "RESOURCE_NOT_FOUND", f"The resource {path} was not found.")
            self.state.profiles.remove(profile)
            for hardware in self.state.hardware:
                if hardware["uri"] == profile["serverHardwareUri"]:
                    hardware["state"] = "NoProfileApplied"
            task = self.state.add_task("Delete", profile)
        return self._send(202, None, {"Location": task["uri"]})


class _QuietServer(ThreadingHTTPServer):
    """Threaded HTTP server that ignores clients hanging up early."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def serve(host="127.0.0.1", port=0):
    """Return a practice server (not started) with its own state."""
    return _QuietServer((host, port), type("PracticeHandler", (Handler,), {"state": State()}))


def main(argv=None):
    """Serve in the foreground until stopped."""
    parser = argparse.ArgumentParser(description="Local practice imitation of the HPE OneView REST API.")
    parser.add_argument("--port", type=int, default=8810)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    server = serve(args.host, args.port)
    print(f"OneView practice API on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
