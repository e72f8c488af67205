"""The git reader: renamed branches, a cache left in any state, and git runs that never end."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from catalog.gitrepo import BRANCH_REFS, GitError, GitReader, git_reader, path_refusal
from catalog.models import SyncRun, Workshop
from catalog.sync import catalog_sync
from tests.contentrepo import HostileRepo, notebook_bytes


def _cache_refs(reader: GitReader) -> list[str]:
    """Return every ref of the reader's cache."""
    out = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname)"], cwd=reader.path, capture_output=True, text=True, check=True
    )
    return out.stdout.split()


@pytest.mark.django_db
@pytest.mark.parametrize(("old", "new"), [("feature/x", "feature"), ("release", "release/2025")])
def test_renamed_catalog_branch_syncs_without_clean_up(tmp_path: Path, settings, old: str, new: str) -> None:
    """The catalog branch renamed either way (into its own parent, or under its old name) still syncs."""
    repo = HostileRepo(tmp_path / "content", branch=old)
    settings.CATALOG_SOURCE, settings.CATALOG_BRANCH = repo.url, old
    repo.add_workshop("redfish-101")
    repo.commit("first")
    assert catalog_sync().status == SyncRun.Status.OK

    repo.rename_branch(new)
    repo.add_workshop("oneview-101")
    repo.commit("after the rename")
    settings.CATALOG_BRANCH = new
    run = catalog_sync()

    assert run.status == SyncRun.Status.OK, run.error
    assert run.commit_sha == repo.head()
    assert sorted(Workshop.objects.values_list("slug", flat=True)) == ["oneview-101", "redfish-101"]
    # The old branch's ref is pruned: the cache holds one branch ref whatever the history of names.
    assert [r for r in _cache_refs(git_reader()) if r.startswith(BRANCH_REFS)] == [
        BRANCH_REFS + hashlib.sha256(new.encode()).hexdigest()[:16]
    ]


@pytest.mark.django_db
def test_cache_from_an_older_layout_or_with_conflicting_refs_syncs(content_repo, settings) -> None:
    """Refs the cache holds from older versions, or refs in the way of the branch's ref, are cleared."""
    content_repo.add_workshop("redfish-101")
    head = content_repo.commit("first")
    reader = git_reader()
    reader.fetch(branch="main")
    ours = next(r for r in _cache_refs(reader) if r.startswith(BRANCH_REFS))
    # What older versions left (refs/portal/<branch>) and a ref that makes ours a directory.
    subprocess.run(["git", "update-ref", "-d", ours], cwd=reader.path, check=True)
    for ref in ("refs/portal/release", "refs/portal/feature/x", f"{ours}/old"):
        subprocess.run(["git", "update-ref", ref, head], cwd=reader.path, check=True)
    assert f"{ours}/old" in _cache_refs(reader)

    content_repo.add_workshop("oneview-101")
    content_repo.commit("second")
    run = catalog_sync()

    assert run.status == SyncRun.Status.OK, run.error
    assert run.commit_sha == content_repo.head()
    assert _cache_refs(reader) == [ours]


@pytest.mark.django_db
def test_lock_left_by_a_killed_git_is_cleared(content_repo, settings) -> None:
    """A ref lock older than the git timeout (its git was killed) does not block the next sync."""
    content_repo.add_workshop("redfish-101")
    content_repo.commit("first")
    reader = git_reader()
    reader.fetch(branch="main")
    ours = next(r for r in _cache_refs(reader) if r.startswith(BRANCH_REFS))
    lock = reader.path / f"{ours}.lock"
    lock.write_text("")
    old = time.time() - settings.CATALOG_GIT_TIMEOUT - 120
    os.utime(lock, (old, old))

    content_repo.add_workshop("oneview-101")
    content_repo.commit("second")
    run = catalog_sync()

    assert run.status == SyncRun.Status.OK, run.error
    assert run.commit_sha == content_repo.head()
    assert not lock.exists()


@contextmanager
def _silent_git_server() -> Iterator[str]:
    """Serve git's smart HTTP on 127.0.0.1 as a stuck server would: accept, read, never answer."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/content.git"
    finally:
        server.close()
        for conn in held:
            conn.close()


@contextmanager
def _processes_naming(text: str) -> Iterator[dict[int, str]]:
    """Record every process whose command line holds text, while the block runs."""
    seen: dict[int, str] = {}
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for proc in psutil.process_iter(["cmdline"]):
                cmdline = " ".join(proc.info["cmdline"] or [])
                if text in cmdline:
                    seen[proc.pid] = cmdline
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield seen
    finally:
        done.set()
        watcher.join()


def _still_running(pids: list[int], *, within: float = 5.0) -> list[int]:
    """Return the pids still alive after up to within seconds (a zombie is dead: only init's to reap)."""
    deadline = time.monotonic() + within
    while True:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def test_fetch_timeout_kills_git_and_its_helpers(tmp_path: Path) -> None:
    """A fetch from a server that never answers fails after the timeout, leaving no git process."""
    with _silent_git_server() as url, _processes_naming(url) as seen:
        reader = GitReader(source=url, cache_root=tmp_path / "cache", timeout=2)
        started = time.monotonic()
        with pytest.raises(GitError, match=r"cannot read http://127\.0\.0\.1:\d+/content\.git: .*timed out after 2 s"):
            reader.fetch(branch="main")
        elapsed = time.monotonic() - started
        # Checked while the server still holds the connection: once it closes, helpers exit anyway.
        left = _still_running(list(seen))

    assert elapsed < 5
    # git fetch started git-remote-http for the URL: killing git alone would orphan it.
    assert any("remote-http" in cmd for cmd in seen.values()), seen
    assert left == []


class Interrupted(Exception):
    """What a task's soft time limit raises in the middle of whatever the worker is doing."""


def test_interrupted_fetch_kills_git_and_its_helpers(tmp_path: Path) -> None:
    """A fetch interrupted from Python (as Celery's soft time limit does) takes its git processes with it."""

    def interrupt(signum, frame):
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        with _silent_git_server() as url, _processes_naming(url) as seen:
            reader = GitReader(source=url, cache_root=tmp_path / "cache", timeout=60)
            signal.setitimer(signal.ITIMER_REAL, 1.5)
            with pytest.raises(Interrupted):
                reader.fetch(branch="main")
            left = _still_running(list(seen))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

    assert any("remote-http" in cmd for cmd in seen.values()), seen
    assert left == []


@pytest.mark.django_db
def test_a_token_in_the_source_url_never_reaches_the_error(settings) -> None:
    """A sync from an unreachable https source with a token in its URL records the error without the token."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again: nothing listens there
    settings.CATALOG_SOURCE = f"http://portal:s3cret-token@127.0.0.1:{port}/content.git"

    run = catalog_sync()

    assert run.status == SyncRun.Status.ERROR
    assert run.error.startswith(f"cannot read http://***@127.0.0.1:{port}/content.git: git fetch failed:")
    assert "s3cret" not in run.error


def test_commit_ids_cannot_become_git_options(tmp_path: Path) -> None:
    """A 'commit' from a webhook payload that looks like an option is refused before git runs."""
    repo = HostileRepo(tmp_path / "content")
    repo.add_workshop("redfish-101")
    repo.commit()
    reader = GitReader(source=repo.url, cache_root=tmp_path / "cache")
    reader.fetch(branch="main")
    marker = tmp_path / "pwned"
    with pytest.raises(GitError, match="is not a commit id"):
        reader.commit_ensure(f"--upload-pack=touch {marker}")
    assert not marker.exists()


def test_folder_names_are_names_not_patterns(tmp_path: Path) -> None:
    """Folders named like pathspec patterns ('*', '[a-z]*') list only themselves."""
    repo = HostileRepo(tmp_path / "content")
    for folder in ("*", "[a-z]*", "alpha"):
        repo.write(f"{folder}/0-Intro.ipynb", notebook_bytes(f"{folder} intro"))
    repo.commit()
    reader = GitReader(source=repo.url, cache_root=tmp_path / "cache")
    head = reader.fetch(branch="main")

    read = dict(reader.folder_files_read(commit=head, folders=["*", "[a-z]*"], max_bytes=10**6))

    assert {folder: sorted(r.files) for folder, r in read.items()} == {
        "*": ["0-Intro.ipynb"],
        "[a-z]*": ["0-Intro.ipynb"],
    }


def test_a_corrupt_folder_does_not_hide_the_others(tmp_path: Path) -> None:
    """A tree git cannot list fails its own folder, with git's reason; the other folders are read."""
    repo = HostileRepo(tmp_path / "content")
    repo.add_workshop("alpha")
    repo.add_workshop("omega")
    repo.commit()
    reader = GitReader(source=repo.url, cache_root=tmp_path / "cache")
    head = reader.fetch(branch="main")
    # A tree whose entry 'd' claims to be a folder but is a file: no server would send it
    # (packing it fails), so it is written into the cache as a damaged disk would leave it.
    cache = HostileRepo.__new__(HostileRepo)
    cache.remote = reader.path
    blob = cache.blob(b"not a tree")
    tree_of_head = subprocess.run(
        ["git", "rev-parse", f"{head}^{{tree}}"], cwd=reader.path, capture_output=True, text=True, check=True
    ).stdout.strip()
    listing = subprocess.run(["git", "ls-tree", tree_of_head], cwd=reader.path, capture_output=True, text=True)
    top = {line.split("\t")[1].encode(): ("40000", line.split()[2]) for line in listing.stdout.splitlines()}
    top[b"middle"] = {b"d": ("40000", blob), b"0-Intro.ipynb": notebook_bytes("Middle")}
    commit = subprocess.run(
        ["git", "commit-tree", cache.tree(top), "-m", "damaged"],
        cwd=reader.path,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
             "GIT_COMMITTER_EMAIL": "t@t"},
    ).stdout.strip()  # fmt: skip

    read = dict(reader.folder_files_read(commit=commit, folders=["alpha", "middle", "omega"], max_bytes=10**6))

    assert sorted(read["alpha"].files) == sorted(read["omega"].files) == ["0-Part0.ipynb", "1-Part1.ipynb"]
    assert read["middle"].files == {}
    assert read["middle"].error.startswith("middle: the folder cannot be read: git ls-tree failed:")
    assert "not a tree" in read["middle"].error


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ("0-Intro.ipynb", ""),
        ('images/say "hi".png', ""),
        ("données/été 2025 #1?.csv", ""),
        ("..", "a '..' component"),
        ("a/../../etc/passwd", "a '..' component"),
        ("./a", "a '.' component"),
        ("a//b", "an empty component"),
        ("/etc/passwd", "an absolute path"),
        (".git/config", "a '.git' component"),
        ("sub/.GIT/hooks/pre-commit", "a '.git' component"),
        (".git. /config", "a '.git' component"),
        ("git~1/config", "a '.git' component"),
        ("..\\..\\evil.ps1", "a backslash in the name"),
        ("new\nline.md", "a control character (NUL, newline, tab…) in the name"),
        ("nul\x00.md", "a control character (NUL, newline, tab…) in the name"),
        ("a" * 256, "longer than 255 characters"),
    ],
)
def test_path_refusal(path: str, refused: str) -> None:
    """Paths git refuses to check out, or unsafe in a URL, header or zip, are refused; quotes are fine."""
    assert path_refusal(path) == refused
