"""A small thread-safe LRU of finished results, shared by the sessions of one server process.

Pages keep results that took seconds to compute (attribution maps, trust checks) here, keyed by
everything that determines them (model, weights source, image hash, method, settings), so a
rerun, another tab or another session asking the same question gets the answer at once.
Values are plain data that nobody modifies once stored.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["ResultStore"]


class ResultStore:
    """``get(key)`` (None when absent) and ``put(key, value)``; the least recently used entry
    goes first once ``size`` entries are held."""

    def __init__(self, size: int = 64):
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, key):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
