"""Read a content repository through a cached git clone: one fetch, then local reads only.

Content repositories are untrusted input: a tree can hold entries git itself refuses to check
out (crafted with `git mktree` or `hash-object --literally`), and a small pack can hold a
blob of gigabytes. So every entry's name is checked and every blob's size is read from the
tree *before* its content is; every git command runs in its own process group, with a
timeout and a bound on its output, and the whole group is killed when it overruns.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import selectors
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)

# The catalog stores paths and folder names in 255-character columns (catalog.models).
MAX_PATH_CHARS = 255
# Bound on what one git command may print (a listing, an error); blob reads get their own bound.
MAX_OUTPUT_BYTES = 64 * 1024 * 1024
# Blobs read in one `git cat-file` batch, in bytes: the memory a sync holds at once.
READ_BATCH_BYTES = 64 * 1024 * 1024
# The branch fetched for the catalog and the refs fetched for validation live in private
# namespaces under names that are hashes: flat, fixed-length names can never conflict with
# each other, whatever the branch is called or renamed to (release -> release/2025).
BRANCH_REFS = "refs/portal-branches/"
FETCH_REFS = "refs/portal-fetch/"
LEGACY_REFS = "refs/portal/"  # refs/portal/<branch> of older versions: removed on the next fetch

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# .git and the names Windows and macOS resolve to it (".git.", ".GIT ", "git~1").
_GIT_DIR = re.compile(r"^(?:\.git[. ]*|git~\d+)$", re.IGNORECASE)
_OBJECT_ID = re.compile(r"^[0-9a-f]{4,64}$")
_USERINFO = re.compile(r"(?<=://)[^/@]+@")  # user:token@ in an https URL
# What git says when a fetched ref cannot be stored next to the refs already in the cache.
_REF_CONFLICT = ("cannot lock ref", "some local refs could not be updated", "unable to update local ref")


class GitError(RuntimeError):
    """The content repository could not be read; the message is one line for people."""


@dataclass(frozen=True)
class Blob:
    """A file in the repository: path from the root, object id and size in bytes."""

    path: str
    sha: str
    size: int


@dataclass(frozen=True)
class CommitInfo:
    """A commit's full id and when it was made."""

    sha: str
    date: datetime


@dataclass
class FolderRead:
    """One folder as the reader found it: what it read, and what it left out and why.

    files: path inside the folder -> content, each at most the max_bytes asked for.
    oversized: path inside the folder -> size in bytes, for files over max_bytes (never read).
    warnings: one line per entry left out (a name the portal refuses, a broken object).
    error: set when git could not list the folder at all (a corrupt tree); files is then empty.
    """

    files: dict[str, bytes] = field(default_factory=dict)
    oversized: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: str = ""


@dataclass
class _Listing:
    """One folder's entries, checked but not read yet."""

    blobs: list[Blob] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str = ""


def path_shown(path: str) -> str:
    """Return path printable on one line: control characters as \\xNN escapes."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in path)


def path_refusal(path: str) -> str:
    """Return why the portal refuses a repository path, or '' when it accepts it.

    Refused: what git refuses to check out (an absolute path; an empty, '.', '..' or '.git'
    component), what is unsafe in a URL, a response header, a page or a zip unpacked on
    Windows (a backslash; a control character such as NUL, newline or tab), and paths longer
    than MAX_PATH_CHARS. Quotes, spaces and any other printable character are accepted.
    """
    if not path:
        return "an empty path"
    if path.startswith("/"):
        return "an absolute path"
    if _CONTROL.search(path):
        return "a control character (NUL, newline, tab…) in the name"
    if "\\" in path:
        return "a backslash in the name"
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return f"a '{part}' component" if part else "an empty component"
        if _GIT_DIR.match(part):
            return "a '.git' component"
    if len(path) > MAX_PATH_CHARS:
        return f"longer than {MAX_PATH_CHARS} characters"
    return ""


def _object_id(value: str) -> str:
    """Return value if it is a (possibly abbreviated) hexadecimal object id, else raise GitError."""
    if not _OBJECT_ID.match(value):
        raise GitError(f"'{path_shown(value)[:80]}' is not a commit id")
    return value


def _group_kill(proc: subprocess.Popen) -> None:
    """Kill every process of proc's group (git and the helpers it started: remote-https, upload-pack).

    Called while proc is not reaped yet, so its id (the group's id) cannot have been reused.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is already gone
        os.killpg(proc.pid, signal.SIGKILL)


def _exited(proc: subprocess.Popen) -> bool:
    """Tell whether proc has exited, without reaping it (so its group id stays reserved)."""
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


class GitReader:
    """A bare cached clone of one source, fetched on demand."""

    def __init__(self, *, source: str, cache_root: Path, timeout: int = 300) -> None:
        self.source = source
        key = hashlib.sha256(source.encode()).hexdigest()[:16]
        self.path = Path(cache_root) / f"{key}.git"
        self.timeout = timeout
        # The source as messages name it: a token in the URL never reaches a page or a log.
        self.shown = _USERINFO.sub("***@", source)

    def _git(
        self,
        *args: str,
        input_bytes: bytes | None = None,
        cwd: Path | None = None,
        max_output: int = MAX_OUTPUT_BYTES,
    ) -> bytes:
        """Run git in the cache and return its output; GitError with git's last line on failure.

        git runs in a session of its own: on a timeout, on output over max_output bytes, or
        when this process is interrupted (a task's time limit), the whole group is killed,
        so no helper process (git-remote-https, git-upload-pack) is left behind.
        """
        env = {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "true",
            "GIT_LITERAL_PATHSPECS": "1",  # a folder named '*' or '[a-z]*' is a name, not a pattern
            "LC_ALL": "C",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }
        deadline = time.monotonic() + self.timeout
        with tempfile.TemporaryFile() as stdin:
            # Input from a file, not a pipe: a large input can never block against full output.
            stdin.write(input_bytes or b"")
            stdin.seek(0)
            proc = subprocess.Popen(
                ["git", *args],
                cwd=cwd or self.path,
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
            try:
                out, err = self._collect(proc, args[0], deadline=deadline, max_output=max_output)
            finally:
                _group_kill(proc)
                proc.wait()
                proc.stdout.close()  # type: ignore[union-attr]
                proc.stderr.close()  # type: ignore[union-attr]
        if proc.returncode != 0:
            lines = [ln.strip() for ln in err.decode(errors="replace").splitlines() if ln.strip()]
            # git's reason is its last "fatal:" or "error:" line; advice lines may follow it.
            marked = [ln for ln in lines if ln.startswith(("fatal: ", "error: "))]
            reason = _USERINFO.sub("***@", (marked or lines or [f"exit code {proc.returncode}"])[-1])
            raise GitError(f"git {args[0]} failed: {reason.removeprefix('fatal: ').removeprefix('error: ')}")
        return out

    def _collect(self, proc: subprocess.Popen, name: str, *, deadline: float, max_output: int) -> tuple[bytes, bytes]:
        """Read proc's output until it exits; GitError past the deadline or past max_output bytes."""
        out, err = bytearray(), bytearray()
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ, out)  # type: ignore[arg-type]
            selector.register(proc.stderr, selectors.EVENT_READ, err)  # type: ignore[arg-type]
            while selector.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise GitError(f"git {name} timed out after {self.timeout} s")
                for key, _ in selector.select(remaining):
                    chunk = os.read(key.fd, 1 << 16)
                    if not chunk:
                        selector.unregister(key.fileobj)
                        continue
                    key.data.extend(chunk)
                    if key.data is err and len(err) > 1 << 16:
                        del err[: len(err) - (1 << 15)]  # keep the end: git's reason is its last line
                    if len(out) > max_output:
                        raise GitError(f"git {name} printed more than the {max_output} bytes expected; stopped")
        while not _exited(proc):  # output closed; git itself exits right after
            if time.monotonic() > deadline:
                raise GitError(f"git {name} timed out after {self.timeout} s")
            time.sleep(0.005)
        return bytes(out), bytes(err)

    def _ensure_cache(self) -> None:
        """Create the bare cache repository on first use; clear locks left by killed git runs."""
        if not (self.path / "HEAD").exists():
            self.path.mkdir(parents=True, exist_ok=True)
            self._git("init", "--bare", "--quiet", str(self.path), cwd=self.path.parent)
        self._stale_locks_remove()

    def _stale_locks_remove(self) -> None:
        """Remove ref locks older than the git timeout: git runs are killed by then, so nobody holds them.

        A fetch killed on its timeout can leave `refs/...lock` or `packed-refs.lock` behind,
        and git refuses to update those refs until the file goes.
        """
        cutoff = time.time() - self.timeout - 60
        candidates = [self.path / n for n in ("packed-refs.lock", "HEAD.lock", "config.lock", "shallow.lock")]
        refs = self.path / "refs"
        if refs.is_dir():
            candidates += refs.rglob("*.lock")
        for lock in candidates:
            try:
                if lock.stat().st_mtime < cutoff:
                    lock.unlink()
                    log.warning("removed a stale git lock %s (a git run killed on its timeout)", lock)
            except FileNotFoundError:
                continue

    def _refs_prune(self, *, keep: str, namespaces: tuple[str, ...]) -> None:
        """Delete every ref under namespaces but keep (old branches, refs of older versions)."""
        out = self._git("for-each-ref", "--format=%(refname)", *namespaces).decode()
        stale = [ref for ref in out.splitlines() if ref and ref != keep]
        if stale:
            self._git("update-ref", "--stdin", input_bytes="".join(f"delete {ref}\n" for ref in stale).encode())

    def _fetch_into(self, refspec_from: str, local: str, *, namespaces: tuple[str, ...]) -> None:
        """Fetch refspec_from into the private ref local; on a ref conflict, prune namespaces and retry once."""
        args = ("fetch", "--quiet", "--force", "--no-tags", "--end-of-options", self.source, f"+{refspec_from}:{local}")
        try:
            self._git(*args)
        except GitError as exc:
            if not any(sign in str(exc) for sign in _REF_CONFLICT):
                raise
            # Refs left in the cache by another layout: the private namespaces hold nothing
            # that cannot be fetched again, so clear them and fetch once more.
            self._refs_prune(keep="", namespaces=namespaces)
            self._git(*args)

    def fetch(self, *, branch: str) -> str:
        """Fetch branch from the source (one git fetch); return its head commit.

        The branch lands in a private ref named by a hash of its name, and refs of other
        branches are pruned: a renamed catalog branch (feature/x -> feature) needs no clean-up.
        """
        self._ensure_cache()
        ref = BRANCH_REFS + hashlib.sha256(branch.encode()).hexdigest()[:16]
        try:
            self._fetch_into(f"refs/heads/{branch}", ref, namespaces=(BRANCH_REFS, LEGACY_REFS))
        except GitError as exc:
            if "couldn't find remote ref" in str(exc):
                raise GitError(f"branch '{branch}' not found in {self.shown}") from None
            raise GitError(f"cannot read {self.shown}: {exc}") from None
        self._refs_prune(keep=ref, namespaces=(BRANCH_REFS, LEGACY_REFS))
        return self._git("rev-parse", ref).decode().strip()

    def publish(self, *, sha: str, branch: str, target: Path) -> None:
        """Point refs/heads/<branch> of the bare repository target at sha (made on first use,
        readable by everyone: learners' servers clone it, as other Linux users with system users).

        Why: learners pull the workshop from this copy on the host (nbgitpuller's link names it),
        not forty times from GitHub, and get exactly the commit the catalog published.
        GitError if git fails; nothing else in target is touched.
        """
        self._ensure_cache()
        target = Path(target)
        if not (target / "HEAD").exists():
            target.mkdir(mode=0o755, parents=True, exist_ok=True)
            self._git("init", "--bare", "--quiet", "--shared=0644", str(target), cwd=target.parent)
            self._git("symbolic-ref", "HEAD", f"refs/heads/{branch}", cwd=target)
        self._git("push", "--quiet", "--force", "--no-verify", str(target), f"{_object_id(sha)}:refs/heads/{branch}")

    def commit_ensure(self, commit: str) -> str:
        """Return the full id of commit, fetching it by id when the fetched refs lack it."""
        _object_id(commit)
        if not self.has_commit(commit):
            # The pushed commit may be newer than the ref we fetched: ask for it by id.
            self._git("fetch", "--quiet", "--no-tags", "--end-of-options", self.source, commit)
        if not self.has_commit(commit):
            raise GitError(f"commit {commit} not found in {self.shown}")
        return self._git("rev-parse", f"{commit}^{{commit}}").decode().strip()

    def fetch_ref(self, *, ref: str, commit: str | None = None) -> str:
        """Fetch any ref (branch, tag, refs/pull/N/head, commit id); return the commit to read.

        With commit given, that commit is returned once the cache holds it (a pull request's
        ref may already point further than the head being validated). Only the latest fetched
        ref is kept, so validating many pull requests does not grow the cache's refs.
        """
        self._ensure_cache()
        if commit and self.has_commit(_object_id(commit)):
            return self._git("rev-parse", f"{commit}^{{commit}}").decode().strip()
        local = FETCH_REFS + hashlib.sha256(ref.encode()).hexdigest()[:16]
        try:
            self._fetch_into(ref, local, namespaces=(FETCH_REFS,))
        except GitError as exc:
            if not commit:
                raise GitError(f"cannot fetch {ref} from {self.shown}: {exc}") from None
        if commit:
            return self.commit_ensure(commit)
        sha = self._git("rev-parse", f"{local}^{{commit}}").decode().strip()
        # Objects stay in the cache for git's prune grace period (weeks): reading by id is safe.
        self._refs_prune(keep=local, namespaces=(FETCH_REFS,))
        return sha

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
            self._git("merge-base", "--is-ancestor", _object_id(older), _object_id(newer))
        except GitError:
            return False
        return True

    def commit_info(self, sha: str) -> CommitInfo:
        """Return the full id and the date of a commit."""
        out = self._git("show", "-s", "--format=%H%x00%cI", _object_id(sha)).decode()
        full, date = out.rstrip("\n").split("\x00", 1)
        return CommitInfo(full, datetime.fromisoformat(date))

    def folders(self, sha: str) -> dict[str, str]:
        """Map every top-level folder of commit sha to its tree id (builder.is_workshop_folder picks).

        Folders whose names the portal refuses (path_refusal, not UTF-8) are left out, with a warning in the log.
        """
        out = self._git("ls-tree", "-z", sha)
        found = {}
        for entry in filter(None, out.split(b"\x00")):
            meta, raw = entry.split(b"\t", 1)
            _mode, kind, obj = meta.decode().split()
            if kind != "tree":
                continue
            try:
                name = raw.decode()
            except UnicodeDecodeError:
                log.warning("content repository: folder %r skipped: its name is not UTF-8", raw)
                continue
            if reason := path_refusal(name):
                log.warning("content repository: folder '%s' skipped: %s", path_shown(name), reason)
                continue
            found[name] = obj
        return found

    def _list(self, sha: str, folders: list[str]) -> dict[str, _Listing]:
        """List and check the files of folders (recursively) in commit sha, without reading them.

        `-t` lists the trees too, so an entry whose own name holds a slash (possible only in a
        crafted tree) shows up as a file whose parent folder is not listed, and is refused.
        """
        listings = {f: _Listing() for f in folders}
        out = self._git("ls-tree", "-r", "-t", "-l", "-z", sha, "--", *folders)
        trees: set[str] = set()
        seen: set[str] = set()
        for entry in filter(None, out.split(b"\x00")):
            meta, raw = entry.split(b"\t", 1)
            _mode, kind, obj, size = meta.decode().split()
            try:
                path = raw.decode()
            except UnicodeDecodeError:
                folder, _, inner = raw.decode(errors="replace").partition("/")
                if folder in listings and kind == "blob":
                    listings[folder].warnings.append(f"{path_shown(inner)}: skipped: the name is not UTF-8 text")
                continue
            folder, _, inner = path.partition("/")
            listing = listings.get(folder)
            if listing is None or not inner:
                continue  # the folder's own entry
            if kind == "tree":
                trees.add(path)
                continue
            if kind != "blob":
                continue  # submodules: nothing to read
            parent = path.rpartition("/")[0]
            if reason := path_refusal(inner) or ("" if parent in trees or parent == folder else "a '/' in a name"):
                listing.warnings.append(f"{path_shown(inner)}: skipped: {reason}")
            elif path in seen:
                listing.warnings.append(f"{path_shown(inner)}: skipped: a second entry with the same name")
            elif not size.isdigit():
                listing.warnings.append(f"{path_shown(inner)}: skipped: object {obj} missing from the repository")
            else:
                seen.add(path)
                listing.blobs.append(Blob(path, obj, int(size)))
        return listings

    def _listings(self, sha: str, folders: list[str]) -> dict[str, _Listing]:
        """List folders in chunks; when git cannot list a chunk, list its folders one by one."""
        listings: dict[str, _Listing] = {}
        for start in range(0, len(folders), 500):  # stay well under the argument-length limit
            chunk = folders[start : start + 500]
            try:
                listings.update(self._list(sha, chunk))
            except GitError:
                for folder in chunk:  # one corrupt tree must not hide the other folders
                    try:
                        listings.update(self._list(sha, [folder]))
                    except GitError as exc:
                        listings[folder] = _Listing(error=f"{folder}: the folder cannot be read: {exc}")
        return listings

    def folder_files_read(
        self, *, commit: str, folders: list[str], max_bytes: int, batch_bytes: int = READ_BATCH_BYTES
    ) -> Iterator[tuple[str, FolderRead]]:
        """Yield (folder, FolderRead) for each folder of commit, reading blobs lazily in batches.

        Sizes come from the tree listing, before any content is read: a file over max_bytes
        is never read (FolderRead.oversized), and one batch reads at most batch_bytes (or a
        single folder's files), so memory stays bounded however large the repository is.
        """
        listings = self._listings(commit, folders)
        batch: list[str] = []
        batch_size = 0
        for folder in folders:
            listing = listings[folder]
            size = sum(b.size for b in listing.blobs if b.size <= max_bytes)
            if batch and batch_size + size > batch_bytes:
                yield from self._batch_read(batch, listings, max_bytes=max_bytes)
                batch, batch_size = [], 0
            batch.append(folder)
            batch_size += size
        if batch:
            yield from self._batch_read(batch, listings, max_bytes=max_bytes)

    def _batch_read(
        self, batch: list[str], listings: dict[str, _Listing], *, max_bytes: int
    ) -> Iterator[tuple[str, FolderRead]]:
        """Read the files of a batch of folders with one git process; yield each folder's FolderRead."""
        wanted = [b for f in batch for b in listings[f].blobs if b.size <= max_bytes]
        contents, problems = self._read(wanted)
        for folder in batch:
            listing = listings[folder]
            read = FolderRead(warnings=list(listing.warnings), error=listing.error)
            for blob in listing.blobs:
                inner = blob.path.split("/", 1)[1]
                if blob.size > max_bytes:
                    read.oversized[inner] = blob.size
                elif blob.sha in contents:
                    read.files[inner] = contents[blob.sha]
                else:
                    read.warnings.append(f"{path_shown(inner)}: skipped: {problems.get(blob.sha, 'unreadable')}")
            yield folder, read

    def paths(self, sha: str) -> list[str]:
        """List every file path of commit sha (to check that links resolve); refused names left out."""
        out = self._git("ls-tree", "-r", "-z", "--name-only", sha)
        found = []
        for raw in filter(None, out.split(b"\x00")):
            try:
                path = raw.decode()
            except UnicodeDecodeError:
                continue
            if not path_refusal(path):
                found.append(path)
        return found

    def _read(self, blobs: list[Blob]) -> tuple[dict[str, bytes], dict[str, str]]:
        """Read blobs with one `git cat-file --batch`; return (sha -> content, sha -> why it was not read).

        The output is bounded by the listed sizes, so a lying listing cannot make it grow.
        """
        unique = {b.sha: b.size for b in blobs}
        if not unique:
            return {}, {}
        expected = sum(unique.values()) + 100 * len(unique)
        out = self._git(
            "cat-file", "--batch", input_bytes="".join(f"{s}\n" for s in unique).encode(), max_output=expected
        )
        contents: dict[str, bytes] = {}
        problems: dict[str, str] = {}
        pos = 0
        for sha in unique:
            header_end = out.index(b"\n", pos)
            header = out[pos:header_end].decode(errors="replace").split()
            pos = header_end + 1
            if len(header) < 3:
                problems[sha] = f"object {sha} missing from the repository"
                continue
            kind, size = header[1], int(header[2])
            if kind == "blob":
                contents[sha] = out[pos : pos + size]
            else:
                problems[sha] = f"a {kind} where the tree says a file is"
            pos += size + 1
        return contents, problems


def git_reader(*, source: str | None = None) -> GitReader:
    """Build the reader for source (default: the configured content repository)."""
    return GitReader(
        source=source or settings.CATALOG_SOURCE,
        cache_root=settings.CATALOG_CACHE_DIR,
        timeout=settings.CATALOG_GIT_TIMEOUT,
    )
