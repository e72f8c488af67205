"""How many single-user servers this host can hold (pure functions)."""

from __future__ import annotations

import os


def capacity_from_memory(*, total_mb: int, server_mb: int, reserve_mb: int = 1024) -> int:
    """Return how many servers of server_mb fit in total_mb less reserve_mb (at least 1)."""
    if server_mb <= 0:
        raise ValueError("server_mb must be positive")
    return max(1, (total_mb - reserve_mb) // server_mb)


def host_memory_mb() -> int:
    """Return the host's physical memory in MiB (0 when the platform does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError, AttributeError):
        return 0


def capacity_resolve(
    *, configured: int | None, total_mb: int, server_mb: int, reserve_mb: int = 1024
) -> int:
    """Return the configured capacity, else the one derived from memory."""
    if configured is not None and configured > 0:
        return configured
    if total_mb <= 0:
        return 1  # unknown memory: the safe answer
    return capacity_from_memory(total_mb=total_mb, server_mb=server_mb, reserve_mb=reserve_mb)
