"""A bounded, thread-safe cache of plans keyed by what a call's plan depends on."""

import threading

__all__ = ["PlanCache"]


class PlanCache:
    """Plans by key, at most `maxsize` of them, the oldest dropped first.

    Lookups take no lock (a dict read is atomic); insertions and evictions
    do. Plans must be immutable: concurrent calls share them.

    Parameters
    ----------
    maxsize : int
        Most plans kept.
    """

    def __init__(self, maxsize=256):
        self.maxsize = maxsize
        self._plans = {}
        self._lock = threading.Lock()

    def get(self, key):
        """The plan stored under `key`, or None."""
        return self._plans.get(key)

    def put(self, key, plan):
        """Store `plan` under `key`, dropping the oldest plans beyond `maxsize`."""
        with self._lock:
            self._plans[key] = plan
            while len(self._plans) > self.maxsize:
                # dicts keep insertion order: the first key is the oldest
                del self._plans[next(iter(self._plans))]

    def clear(self):
        """Drop every plan."""
        with self._lock:
            self._plans.clear()

    def __len__(self):
        return len(self._plans)
