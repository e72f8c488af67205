"""Real git content repositories for tests: write files, commit, push, force-push."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import nbformat

IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Maintainer",
    "GIT_AUTHOR_EMAIL": "maintainer@example.org",
    "GIT_COMMITTER_NAME": "Test Maintainer",
    "GIT_COMMITTER_EMAIL": "maintainer@example.org",
}


def notebook_bytes(
    title: str, *sections: str, kernel: str = "python3", code: str = "print('hello')", **extra_md: Any
) -> bytes:
    """Return a valid nbformat 4 notebook with a title heading, section headings and a code cell."""
    cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\nIntro text for {title}.")]
    for section in sections:
        cells.append(nbformat.v4.new_markdown_cell(f"## {section}\n\nSome words about {section}."))
    cells.append(nbformat.v4.new_code_cell(code))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    return nbformat.writes(nb).encode()


def workshop_yml(**fields: Any) -> bytes:
    """Return a workshop.yml with the given fields (JSON is valid YAML)."""
    return json.dumps(fields, indent=2).encode()


class ContentRepo:
    """A bare 'remote' repository and a working clone to change it with."""

    def __init__(self, root: Path, branch: str = "main") -> None:
        self.root = root
        self.branch = branch
        self.remote = root / "content.git"
        self.work = root / "work"
        root.mkdir(parents=True, exist_ok=True)
        self._git("init", "--quiet", "--bare", f"--initial-branch={branch}", str(self.remote), cwd=root)
        (self.remote / "git-daemon-export-ok").touch()
        self._git("clone", "--quiet", str(self.remote), str(self.work), cwd=root)
        self._git("checkout", "--quiet", "-B", branch)

    @property
    def url(self) -> str:
        """Return the remote's path (what the portal syncs from)."""
        return str(self.remote)

    def _git(self, *args: str, cwd: Path | None = None) -> str:
        env = {**os.environ, **IDENTITY}
        done = subprocess.run(["git", *args], cwd=cwd or self.work, env=env, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"git {' '.join(args)}: {done.stderr}")
        return done.stdout

    def write(self, path: str, content: bytes | str) -> None:
        """Write a file in the working clone."""
        target = self.work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)

    def remove(self, path: str) -> None:
        """Delete a file or folder from the working clone."""
        target = self.work / path
        shutil.rmtree(target) if target.is_dir() else target.unlink()

    def add_workshop(self, folder: str, *, notebooks: int = 2, meta: dict[str, Any] | None = None) -> None:
        """Write a small valid workshop folder."""
        for i in range(notebooks):
            self.write(f"{folder}/{i}-Part{i}.ipynb", notebook_bytes(f"{folder} part {i}", "Setup", "Calls"))
        if meta is not None:
            self.write(f"{folder}/workshop.yml", workshop_yml(**meta))

    def commit(self, message: str = "change", *, push: bool = True) -> str:
        """Commit everything and push it to the remote; return the commit id."""
        self._git("add", "--all")
        self._git("commit", "--quiet", "--allow-empty", "-m", message)
        if push:
            self._git("push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{self.branch}")
        return self.head()

    def head(self) -> str:
        """Return the working clone's HEAD commit."""
        return self._git("rev-parse", "HEAD").strip()

    def amend_and_force_push(self, message: str = "rewritten") -> str:
        """Rewrite the last commit and force-push it (history no longer linear)."""
        self._git("add", "--all")
        self._git("commit", "--quiet", "--amend", "-m", message)
        self._git("push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{self.branch}")
        return self.head()


# A crafted tree: raw entry name -> file content, a nested tree, or (mode, object id) as given.
RawTree = dict[bytes, "bytes | RawTree | tuple[str, str]"]


class HostileRepo(ContentRepo):
    """A content repository that can also hold what a normal checkout cannot make.

    Entries with names git refuses ('..', '.git', '/', backslashes, newlines), blobs far
    larger than their packed size, objects of the wrong type: written straight into the
    remote with `git hash-object --literally`, as an attacker's push would deliver them.
    """

    def _remote_git(self, *args: str, data: bytes | None = None) -> str:
        env = {**os.environ, **IDENTITY}
        done = subprocess.run(["git", *args], cwd=self.remote, env=env, input=data, capture_output=True)
        if done.returncode:
            raise RuntimeError(f"git {' '.join(args)}: {done.stderr.decode()}")
        return done.stdout.decode().strip()

    def blob(self, content: bytes) -> str:
        """Store content as a blob in the remote; return its id."""
        return self._remote_git("hash-object", "-w", "--stdin", data=content)

    def zeros_blob(self, size: int) -> str:
        """Store a blob of size zero bytes, streamed to git (it packs to a few kB per MB)."""
        env = {**os.environ, **IDENTITY}
        with subprocess.Popen(
            ["git", "hash-object", "-w", "--stdin"], cwd=self.remote, env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        ) as proc:  # fmt: skip
            chunk = bytes(1 << 20)
            for start in range(0, size, len(chunk)):
                proc.stdin.write(chunk[: min(len(chunk), size - start)])  # type: ignore[union-attr]
            out, _ = proc.communicate()
        return out.decode().strip()

    def tree(self, entries: RawTree) -> str:
        """Write a tree exactly as given (no name checks) into the remote; return its id."""
        rows = []
        for name, value in entries.items():
            if isinstance(value, tuple):
                mode, sha = value
            elif isinstance(value, dict):
                mode, sha = "40000", self.tree(value)
            else:
                mode, sha = "100644", self.blob(value)
            # git's order: names compared as if a tree's name ended with '/'.
            rows.append((name + (b"/" if mode == "40000" else b""), mode, name, sha))
        data = b"".join(
            mode.encode() + b" " + name + b"\x00" + bytes.fromhex(sha) for _key, mode, name, sha in sorted(rows)
        )
        return self._remote_git("hash-object", "-w", "-t", "tree", "--literally", "--stdin", data=data)

    def commit_crafted(self, entries: RawTree, message: str = "crafted") -> str:
        """Commit the branch head's tree plus the crafted top-level entries on the remote's branch.

        The working clone is left behind: a later commit() from it force-pushes over this one.
        """
        head = self._remote_git("rev-parse", f"refs/heads/{self.branch}")
        listing = self._remote_git("ls-tree", "-z", head)
        top: RawTree = {}
        for entry in filter(None, listing.split("\x00")):
            meta, name = entry.split("\t", 1)
            mode, _kind, sha = meta.split()
            top[name.encode()] = (mode.lstrip("0") if mode.startswith("04") else mode, sha)
        top.update(entries)
        commit = self._remote_git("commit-tree", self.tree(top), "-p", head, "-m", message)
        self._remote_git("update-ref", f"refs/heads/{self.branch}", commit)
        return commit

    def rename_branch(self, new: str) -> None:
        """Rename the branch on the remote (as GitHub's rename does) and follow it in the clone."""
        self._remote_git("branch", "-m", self.branch, new)
        self._git("branch", "-m", self.branch, new)
        self._git("fetch", "--quiet", "--prune", "origin")  # --prune: origin/feature/x is in feature's way
        self._git("reset", "--quiet", "--hard", f"origin/{new}")
        self.branch = new
