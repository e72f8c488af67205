"""Read a content repository through a cached git clone: one fetch, then local reads only."""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings


class GitError(RuntimeError):
    """The content repository could not be read; the message is one line for people."""


@dataclass(frozen=True)
class Blob:
    """A file in the repository: path from the root, object id and size."""

    path: str
    sha: str
    size: int


@dataclass(frozen=True)
class CommitInfo:
    """A commit's full id and when it was made."""

    sha: str
    date: datetime


class GitReader:
    """A bare cached clone of one source, fetched on demand."""

    def __init__(self, *, source: str, cache_root: Path, timeout: int = 300) -> None:
        self.source = source
        key = hashlib.sha256(source.encode()).hexdigest()[:16]
        self.path = Path(cache_root) / f"{key}.git"
        self.timeout = timeout

    def _git(self, *args: str, input_bytes: bytes | None = None, cwd: Path | None = None) -> bytes:
        """Run git in the cache, raising GitError with git's own last line on failure."""
        env = {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "true",
            "LC_ALL": "C",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=cwd or self.path,
                input=input_bytes,
                capture_output=True,
                timeout=self.timeout,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise GitError(f"git {args[0]} timed out after {self.timeout} s") from None
        if done.returncode != 0:
            lines = [ln for ln in done.stderr.decode(errors="replace").splitlines() if ln.strip()]
            reason = lines[-1].strip() if lines else f"exit code {done.returncode}"
            raise GitError(f"git {args[0]} failed: {reason.removeprefix('fatal: ')}")
        return done.stdout

    def _ensure_cache(self) -> None:
        """Create the bare cache repository on first use."""
        if (self.path / "HEAD").exists():
            return
        self.path.mkdir(parents=True, exist_ok=True)
        self._git("init", "--bare", "--quiet", str(self.path), cwd=self.path.parent)

    def fetch(self, *, branch: str) -> str:
        """Fetch branch from the source (one git fetch); return its head commit."""
        self._ensure_cache()
        ref = f"refs/portal/{branch}"
        try:
            self._git("fetch", "--quiet", "--force", "--no-tags", self.source, f"+refs/heads/{branch}:{ref}")
        except GitError as exc:
            if "couldn't find remote ref" in str(exc):
                raise GitError(f"branch '{branch}' not found in {self.source}") from None
            raise GitError(f"cannot read {self.source}: {exc}") from None
        return self._git("rev-parse", ref).decode().strip()

    def commit_ensure(self, commit: str) -> str:
        """Return the full id of commit, fetching it by id when the fetched refs lack it."""
        if not self.has_commit(commit):
            # The pushed commit may be newer than the ref we fetched: ask for it by id.
            self._git("fetch", "--quiet", "--no-tags", self.source, commit)
        if not self.has_commit(commit):
            raise GitError(f"commit {commit} not found in {self.source}")
        return self._git("rev-parse", f"{commit}^{{commit}}").decode().strip()

    def fetch_ref(self, *, ref: str, commit: str | None = None) -> str:
        """Fetch any ref (branch, tag, refs/pull/N/head, commit id); return the commit to read.

        With commit given, that commit is returned once the cache holds it (a pull request's
        ref may already point further than the head being validated).
        """
        self._ensure_cache()
        if commit and self.has_commit(commit):
            return self._git("rev-parse", f"{commit}^{{commit}}").decode().strip()
        local = "refs/portal-fetch/" + hashlib.sha256(ref.encode()).hexdigest()[:16]
        try:
            self._git("fetch", "--quiet", "--force", "--no-tags", self.source, f"+{ref}:{local}")
        except GitError as exc:
            if not commit:
                raise GitError(f"cannot fetch {ref} from {self.source}: {exc}") from None
        if commit:
            return self.commit_ensure(commit)
        return self._git("rev-parse", f"{local}^{{commit}}").decode().strip()

    def has_commit(self, sha: str) -> bool:
        """Tell whether the cache holds commit sha."""
        try:
            self._git("cat-file", "-e", f"{sha}^{{commit}}")
        except GitError:
            return False
        return True

    def is_ancestor(self, older: str, newer: str) -> bool:
        """Tell whether commit older is an ancestor of (or equal to) commit newer."""
        try:
            self._git("merge-base", "--is-ancestor", older, newer)
        except GitError:
            return False
        return True

    def commit_info(self, sha: str) -> CommitInfo:
        """Return the full id and the date of a commit."""
        out = self._git("show", "-s", "--format=%H%x00%cI", sha).decode()
        full, date = out.rstrip("\n").split("\x00", 1)
        return CommitInfo(full, datetime.fromisoformat(date))

    def folders(self, sha: str) -> dict[str, str]:
        """Map every top-level folder of commit sha to its tree id (builder.is_workshop_folder picks)."""
        out = self._git("ls-tree", "-z", sha).decode()
        found = {}
        for entry in filter(None, out.split("\x00")):
            meta, name = entry.split("\t", 1)
            _mode, kind, obj = meta.split()
            if kind == "tree":
                found[name] = obj
        return found

    def blobs(self, sha: str, folders: list[str]) -> dict[str, list[Blob]]:
        """List the files (recursively) of the given folders in commit sha, grouped by folder."""
        grouped: dict[str, list[Blob]] = {f: [] for f in folders}
        for start in range(0, len(folders), 500):  # stay well under the argument-length limit
            chunk = folders[start : start + 500]
            out = self._git("ls-tree", "-r", "-l", "-z", sha, "--", *chunk).decode()
            for entry in filter(None, out.split("\x00")):
                meta, path = entry.split("\t", 1)
                _mode, kind, obj, size = meta.split()
                if kind == "blob":
                    grouped[path.split("/", 1)[0]].append(Blob(path, obj, int(size)))
        return grouped

    def folder_files(self, sha: str, folders: list[str]) -> dict[str, dict[str, bytes]]:
        """Read every file of the given folders in commit sha: folder -> path in folder -> bytes."""
        listing = self.blobs(sha, folders)
        contents = self.read([b.sha for blobs in listing.values() for b in blobs])
        return {f: {b.path.split("/", 1)[1]: contents[b.sha] for b in listing[f]} for f in folders}

    def paths(self, sha: str) -> list[str]:
        """List every file path of commit sha (to check that links resolve)."""
        out = self._git("ls-tree", "-r", "-z", "--name-only", sha).decode()
        return [p for p in out.split("\x00") if p]

    def read(self, shas: list[str]) -> dict[str, bytes]:
        """Read many blobs with one `git cat-file --batch` process."""
        if not shas:
            return {}
        unique = list(dict.fromkeys(shas))
        out = self._git("cat-file", "--batch", input_bytes=("\n".join(unique) + "\n").encode())
        contents: dict[str, bytes] = {}
        pos = 0
        for sha in unique:
            header_end = out.index(b"\n", pos)
            header = out[pos:header_end].split()
            if len(header) < 3:
                raise GitError(f"object {sha} missing from the cache")
            size = int(header[2])
            start = header_end + 1
            contents[sha] = out[start : start + size]
            pos = start + size + 1
        return contents


def git_reader(*, source: str | None = None) -> GitReader:
    """Build the reader for source (default: the configured content repository)."""
    return GitReader(
        source=source or settings.CATALOG_SOURCE,
        cache_root=settings.CATALOG_CACHE_DIR,
        timeout=settings.CATALOG_GIT_TIMEOUT,
    )
