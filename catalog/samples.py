"""The bundled sample content repository, turned into a real git repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from django.conf import settings

SAMPLES_DIR = Path(settings.BASE_DIR) / "samples" / "workshops"
AUTHOR = {
    "GIT_AUTHOR_NAME": "Workshop Maintainers",
    "GIT_AUTHOR_EMAIL": "maintainers@example.org",
    "GIT_COMMITTER_NAME": "Workshop Maintainers",
    "GIT_COMMITTER_EMAIL": "maintainers@example.org",
}


def _git(*args: str, cwd: Path) -> str:
    """Run git with a fixed identity and return its output."""
    env = {**os.environ, **AUTHOR}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def sample_repo_build(*, source: Path, dest: Path, branch: str = "main") -> str:
    """Commit the sample tree to the bare repository dest (only if it changed); return the head."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not (dest / "HEAD").exists():
        _git("init", "--quiet", "--bare", f"--initial-branch={branch}", str(dest), cwd=dest.parent)
        # Served over git:// or http by `git daemon` / smart HTTP, so nbgitpuller can pull it.
        (dest / "git-daemon-export-ok").touch()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"
        _git("clone", "--quiet", str(dest), str(work), cwd=Path(tmp))
        _git("checkout", "--quiet", "-B", branch, cwd=work)
        for child in work.iterdir():
            if child.name != ".git":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        shutil.copytree(source, work, dirs_exist_ok=True)
        _git("add", "--all", cwd=work)
        if _git("status", "--porcelain", cwd=work).strip():
            _git("commit", "--quiet", "-m", "Update the sample workshops", cwd=work)
            _git("push", "--quiet", "origin", f"HEAD:refs/heads/{branch}", cwd=work)
        return _git("rev-parse", "HEAD", cwd=work).strip()
