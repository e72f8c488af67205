"""Render notebooks in child processes that can be killed: each notebook bounded in time and memory.

A notebook under the byte limit can still cost minutes and gigabytes to render (tens of
thousands of cells). Rendering runs in a Pebble process pool: each worker caps the address
space it may add (RLIMIT_AS); each notebook has a hard timeout after which its worker is
killed and replaced; workers are recycled after a number of notebooks. A notebook that fails
any of this gets a preview that says so; the others, and the sync, go on. The pool also
renders on every core while the sync process waits.
"""

from __future__ import annotations

import multiprocessing.util
import os
import resource
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass
from typing import Any

import billiard
from pebble import ProcessExpired, ProcessPool

from catalog.render import RenderBudget, RenderedNotebook, notebook_render, notice_render
from catalog.sanitize import SrcResolver

_MAX_TASKS_PER_WORKER = 2_000  # a fresh worker now and then gives back fragmented memory (spawning one takes ~0.6 s)
_lock = threading.Lock()
_pool: ProcessPool | None = None
_pool_key: tuple[int, int] | None = None  # (pid that made it, memory limit)


@dataclass(frozen=True)
class RenderJob:
    """One notebook to render: its name (for messages), its nbformat node and its link resolver."""

    name: str
    node: Mapping[str, Any]
    resolve_src: SrcResolver | None = None  # must pickle (sanitize.RelativeResolver does)


def _address_space() -> int:
    """Return this process's current virtual memory size in bytes (Linux /proc)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def _worker_start(memory_bytes: int) -> None:
    """Cap the memory a worker may add to what it inherited (runs in each new worker)."""
    try:
        limit = _address_space() + memory_bytes
    except OSError:
        return  # no /proc: the time limit still holds
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _over_memory(budget: RenderBudget) -> str:
    return f"rendering needed more than {budget.memory_bytes / 2**20:.0f} MB of memory and was stopped"


def _render(job: RenderJob, budget: RenderBudget) -> RenderedNotebook:
    """Render one job (runs in a worker); over the memory limit, answer a notice and stay usable."""
    try:
        return notebook_render(node=job.node, resolve_src=job.resolve_src, budget=budget)
    except MemoryError:
        pass  # leave the except block first: its traceback holds what filled the memory
    return notice_render(message=_no_preview(_over_memory(budget)))


def _no_preview(reason: str) -> str:
    return f"No preview: {reason}. Download the notebook to open it in JupyterLab."


def _context() -> Any:
    """Return the context to start workers with: billiard's "spawn".

    Spawn, not fork: a forked worker would hold copies of every descriptor of the process that
    made it (a Celery worker's pipes, a browser driver's pipe in tests), keeping them open
    after their owner closes them; a spawned one starts clean, once per pool (~0.6 s).
    billiard (Celery's multiprocessing, same API): Celery's prefork workers are daemonic
    processes and the standard library refuses children to a daemonic process. Our workers
    cannot outlive us anyway: they end when their pipe to us closes.
    """
    return billiard.get_context("spawn")


def _workers() -> int:
    """Return how many rendering processes to run: one per core, at most four."""
    return max(1, min(4, os.cpu_count() or 1))


def _get_pool(budget: RenderBudget) -> ProcessPool:
    """Return the process's rendering pool, made on first use (again after a fork or a new limit)."""
    global _pool, _pool_key
    key = (os.getpid(), budget.memory_bytes)
    with _lock:
        if _pool is None or _pool_key != key or not _pool.active:
            if _pool is not None and _pool_key is not None and _pool_key[0] == key[0]:
                _pool.stop()  # ours (not a parent's copy after a fork): end its workers
            _pool = ProcessPool(
                max_workers=_workers(),
                max_tasks=_MAX_TASKS_PER_WORKER,
                initializer=_worker_start,
                initargs=(budget.memory_bytes,),
                context=_context(),
            )
            if _pool_key is None or _pool_key[0] != key[0]:
                # Also when a Celery child exits (it skips atexit but runs these finalizers).
                multiprocessing.util.Finalize(None, render_pool_stop, exitpriority=10)
            _pool_key = key
        return _pool


def render_pool_stop() -> None:
    """Stop the rendering processes (they also end on their own when this process ends)."""
    global _pool, _pool_key
    with _lock:
        if _pool is not None and _pool_key is not None and _pool_key[0] == os.getpid():
            _pool.stop()
            _pool.join()
        _pool, _pool_key = None, None


def _outcome(future: Any, budget: RenderBudget) -> RenderedNotebook:
    """Wait for one notebook's preview; a notice preview when its process failed it."""
    try:
        return future.result()
    except FutureTimeoutError:
        reason = f"rendering took longer than {budget.hard_seconds:.0f} s and was stopped"
    except MemoryError:  # raised while sending the answer
        reason = _over_memory(budget)
    except ProcessExpired as exc:  # a crash, most likely an allocation failing outside Python
        reason = (
            f"the rendering process died (exit code {exc.exitcode}; "
            f"the {budget.memory_bytes / 2**20:.0f} MB memory budget is the likely reason)"
        )
    except Exception as exc:  # noqa: BLE001 - one notebook's failure must not stop the sync
        reason = f"rendering failed ({type(exc).__name__})"
    return notice_render(message=_no_preview(reason))


def notebooks_render_start(
    *, jobs: list[RenderJob], budget: RenderBudget | None = None
) -> Callable[[], list[RenderedNotebook]]:
    """Queue jobs on the rendering processes; return the function that waits for their previews, in order.

    The caller can queue more (the next workshops) before waiting: the processes render while
    it stores what is done. The hard time limit counts from when a worker starts a notebook.
    """
    budget = budget or RenderBudget()
    pool = _get_pool(budget)
    futures = [pool.schedule(_render, args=(job, budget), timeout=budget.hard_seconds) for job in jobs]
    return lambda: [_outcome(future, budget) for future in futures]


def notebooks_render(*, jobs: list[RenderJob], budget: RenderBudget | None = None) -> list[RenderedNotebook]:
    """Render jobs in parallel in killable processes; return one preview per job, in order.

    A notebook over budget.hard_seconds or budget.memory_bytes, or whose process dies, gets a
    preview holding only a notice saying why (and the notice in `notices`); never raises for
    one notebook's sake.
    """
    return notebooks_render_start(jobs=jobs, budget=budget)()
