"""The development sign-in: works on loopback, flagged, refused anywhere else or with DEBUG off."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.hub.conftest import ROOT, _free_port

pytestmark = pytest.mark.hub
CONFIG = str(ROOT / "hubconfig" / "jupyterhub_config.py")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Return a hub environment without GitHub credentials (the embedded default)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "DEBUG"))}
    env.update(
        {
            "HUB_DATA_DIR": str(tmp_path),
            "PORTAL_VAR_DIR": str(tmp_path / "var"),
            "HUB_INTERNAL_URL": f"http://127.0.0.1:{_free_port()}",
            "HUB_PROXY_API_URL": f"http://127.0.0.1:{_free_port()}",
            "PORTAL_SERVICE_TOKEN": "t" * 32,
            **extra,
        }
    )
    return env


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"HUB_URL": "http://0.0.0.0:18999"}, "Refusing the development sign-in on http://0.0.0.0:18999"),
        ({"HUB_URL": "http://127.0.0.1:18998", "DEBUG": "false"}, "Refusing the development sign-in with DEBUG off"),
    ],
)
def test_dev_signin_is_refused_off_loopback_or_without_debug(tmp_path: Path, extra: dict, reason: str) -> None:
    """An operator who forgets the GitHub settings gets a refusal that says what to set."""
    done = subprocess.run(
        [sys.executable, "-m", "jupyterhub", "-f", CONFIG],
        cwd=tmp_path,
        env=_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert reason in done.stdout + done.stderr


@pytest.fixture
def dev_hub(tmp_path: Path) -> Iterator[str]:
    """Run the hub exactly as `make start` does, on loopback, without GitHub credentials."""
    url = f"http://127.0.0.1:{_free_port()}"
    log = open(tmp_path / "hub.log", "w")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterhub", "-f", CONFIG],
        cwd=tmp_path,
        # `make start` sets DEBUG=true for itself (off unless set): the same here.
        env=_env(tmp_path, HUB_URL=url, PORTAL_URL="http://127.0.0.1:18997", DEBUG="true"),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/hub/api/", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError((tmp_path / "hub.log").read_text()[-3000:])
        time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def test_dev_signin_on_loopback_is_flagged_and_signs_in(dev_hub: str) -> None:
    """The login page says it is a development sign-in; any GitHub-like name gets in."""
    with httpx.Client(base_url=dev_hub, follow_redirects=True, timeout=20) as client:
        page = client.get("/hub/login")
        assert "development sign-in" in page.text.lower()
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
        home = client.post("/hub/login", data={"username": "alice", "password": "", "_xsrf": xsrf})
        assert home.status_code == 200
        assert "alice" in home.text
    with httpx.Client(base_url=dev_hub, follow_redirects=True, timeout=20) as client:
        page = client.get("/hub/login")
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
        refused = client.post("/hub/login", data={"username": "Not A Login!", "password": "", "_xsrf": xsrf})
        assert refused.status_code == 403  # names must look like GitHub logins
        assert "Invalid username or password" in refused.text
