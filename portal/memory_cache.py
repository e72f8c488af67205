"""A per-process memory cache for Django bounded in bytes as well as in entries.

Django's LocMemCache bounds entries only: 2,000 cached catalog pages of a few hundred KB each
could hold gigabytes. This backend keeps the pickled values in cachetools' TLRUCache (least
recently used first out, a deadline per entry) sized by their bytes, so OPTIONS["MAX_BYTES"] is
what the process holds at most. A value bigger than the whole budget is not stored.
"""

from __future__ import annotations

import math
import pickle
import threading
import time
from typing import Any

from cachetools import TLRUCache
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

# Per-entry bookkeeping (key, deadline, dict slot) counted on top of the pickled value.
ENTRY_OVERHEAD = 200

# One store per cache name, shared by the threads of a process (Django builds a backend per thread).
_stores: dict[str, tuple[TLRUCache, threading.Lock]] = {}
_stores_lock = threading.Lock()


def _deadline(_key: str, value: tuple[bytes, float], _now: float) -> float:
    return value[1]


def _size(value: tuple[bytes, float]) -> int:
    return len(value[0]) + ENTRY_OVERHEAD


class BoundedMemoryCache(BaseCache):
    """Thread-safe in-memory cache; OPTIONS: MAX_BYTES (default 64 MiB) and Django's MAX_ENTRIES."""

    pickle_protocol = pickle.HIGHEST_PROTOCOL

    def __init__(self, name: str, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.max_bytes = int(params.get("OPTIONS", {}).get("MAX_BYTES", 64 * 1024 * 1024))
        with _stores_lock:
            if name not in _stores:
                store = TLRUCache(maxsize=self.max_bytes, ttu=_deadline, timer=time.monotonic, getsizeof=_size)
                _stores[name] = (store, threading.Lock())
        self._store, self._lock = _stores[name]

    def _expiry(self, timeout: Any) -> float:
        """Return the monotonic deadline for a Django timeout (None: never; 0 or less: already)."""
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        if timeout is None:
            return math.inf
        return time.monotonic() + timeout

    def _put(self, key: str, value: Any, timeout: Any) -> bool:
        """Store under the lock; False when the value alone is over the byte budget."""
        pickled = pickle.dumps(value, self.pickle_protocol)
        deadline = self._expiry(timeout)
        self._store.pop(key, None)
        if deadline <= time.monotonic() or len(pickled) + ENTRY_OVERHEAD > self.max_bytes:
            return False
        # Entries count as well as bytes (MAX_ENTRIES): the least recently used go first.
        while len(self._store) >= self._max_entries:
            self._store.popitem()
        self._store[key] = (pickled, deadline)
        return True

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            if key in self._store:
                return False
            return self._put(key, value, timeout)

    def get(self, key, default=None, version=None):
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            hit = self._store.get(key)
        return default if hit is None else pickle.loads(hit[0])  # noqa: S301 - our own pickles

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None) -> None:
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            self._put(key, value, timeout)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            hit = self._store.get(key)
            if hit is None:
                return False
            self._store[key] = (hit[0], self._expiry(timeout))
            return True

    def incr(self, key, delta=1, version=None):
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            hit = self._store.get(key)
            if hit is None:
                raise ValueError(f"Key '{key}' not found")
            value = pickle.loads(hit[0]) + delta  # noqa: S301 - our own pickles
            self._store[key] = (pickle.dumps(value, self.pickle_protocol), hit[1])
        return value

    def has_key(self, key, version=None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            return key in self._store

    def delete(self, key, version=None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            return self._store.pop(key, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._store.clear()

    @property
    def bytes_held(self) -> int:
        """Return the bytes the cache holds now (pickled values plus bookkeeping)."""
        with self._lock:
            self._store.expire()
            return int(self._store.currsize)
