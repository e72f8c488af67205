"""Deployment files: docker-compose.yml follows the compose specification."""

from __future__ import annotations

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
    assert "gunicorn" in services["portal"]["command"]
    assert services["worker"]["command"][:3] == ["celery", "-A", "portal"]


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
