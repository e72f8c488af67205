"""Deployment files: docker-compose.yml follows the compose specification, its production profile
puts a TLS proxy in front with every HTTPS setting on, and those settings pass `check --deploy`."""

from __future__ import annotations

import os
import re
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_file_is_valid_against_the_compose_spec() -> None:
    """docker compose would accept the file (checked against the vendored compose-spec schema)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(ROOT / "docker-compose.yml"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_runs_the_whole_stack_from_one_image() -> None:
    """postgres, redis, portal, worker and beat are there; the app services share one image."""
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = spec["services"]
    assert {"postgres", "redis", "portal", "worker", "beat", "hub"} <= set(services)
    assert {services[name]["image"] for name in ("portal", "worker", "beat", "hub")} == {"notebooks-portal:latest"}
    assert "jupyterhub" in services["hub"]["command"]
    assert services["hub"]["environment"]["HUB_SPAWNER"] == "docker"
    assert services["worker"]["command"][:3] == ["celery", "-A", "portal"]


def test_every_way_of_running_the_portal_uses_the_same_production_server() -> None:
    """Procfile (make start), the image and both compose profiles serve with portal.webserver."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in ("portal", "portal-local"):
        assert services[name]["command"][:3] == ["python", "-m", "portal.webserver"], name
    cmd = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD"))
    assert '"-m", "portal.webserver"' in cmd
    web = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    assert shlex.split(web)[1:4] == [".venv/bin/python", "-m", "portal.webserver"]


def test_the_production_profile_puts_a_tls_proxy_in_front_of_the_portal() -> None:
    """Only Caddy is published (80/443); the portal is reachable through it alone and believes
    its forwarded headers; the local profile serves plain http on 8000 instead."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    proxy, portal, local = services["proxy"], services["portal"], services["portal-local"]
    assert proxy["profiles"] == ["production"] and portal["profiles"] == ["production"]
    assert local["profiles"] == ["local"] and local["ports"] == ["8000:8000"]
    assert proxy["image"].startswith("caddy:")
    assert set(proxy["ports"]) == {"80:80", "443:443", "443:443/udp"}
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    assert "ports" not in portal and portal["command"][-2:] == ["--trusted-proxy", "*"]
    assert portal["environment"]["DEBUG"] == "false"
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    # Bodies read whole (and bounded) before the portal sees them; slow headers and bodies cut off.
    assert re.search(r"reverse_proxy portal:8000 \{[^}]*request_buffers 26MB", caddyfile)
    assert re.search(r"max_size 26MB", caddyfile)
    assert re.search(r"read_header 10s", caddyfile) and re.search(r"read_body 30s", caddyfile)
    assert "{$PORTAL_URL} {" in caddyfile and "{$HUB_URL} {" in caddyfile  # the https:// sites


def _production_env() -> dict[str, str]:
    """Return what an operator sets for production: .env (per .env.example) and the profile."""
    portal = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["portal"]
    return {
        # .env, as .env.example asks for production
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PORTAL_URL": "https://portal.example.org",
        "HUB_URL": "https://hub.example.org",
        "GITHUB_CLIENT_ID": "Iv1.0123456789abcdef",
        "GITHUB_CLIENT_SECRET": secrets.token_hex(20),
        "GITHUB_ALLOWED_ORGS": "hpe-dev",
        "GITHUB_WEBHOOK_SECRET": secrets.token_hex(20),
        "PORTAL_SERVICE_TOKEN": secrets.token_hex(32),
        "CULLER_SERVICE_TOKEN": secrets.token_hex(32),
        # what the production profile adds
        **{k: str(v) for k, v in portal["environment"].items()},
    }


def _check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    # Not the test run's own switches (the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE for Playwright).
    prefixes = r"^(DEBUG|SECURE_|SESSION_|GITHUB_|HUB_|PORTAL_|DJANGO_ALLOW_ASYNC_UNSAFE)"
    base = {k: v for k, v in os.environ.items() if not re.match(prefixes, k)}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**base, "PORTAL_IGNORE_DOTENV": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_the_documented_production_settings(tmp_path: Path) -> None:
    env = {**_production_env(), "PORTAL_VAR_DIR": str(tmp_path)}
    done = _check_deploy(env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_check_deploy_names_what_is_missing_without_the_https_settings(tmp_path: Path) -> None:
    """The check above can fail: without the profile's HTTPS settings Django names each one."""
    env = {k: v for k, v in _production_env().items() if not k.startswith(("SECURE_", "SESSION_"))}
    done = _check_deploy({**env, "PORTAL_URL": "http://portal.example.org", "PORTAL_VAR_DIR": str(tmp_path)})
    assert done.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in done.stderr + done.stdout, warning


def test_check_jsonschema_rejects_a_broken_compose_file(tmp_path: Path) -> None:
    """The validation above can fail: an unknown key is refused."""
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  portal:\n    image: x\n    restartt: always\n")
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(broken)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
