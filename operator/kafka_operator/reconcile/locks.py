"""One reconcile at a time per KafkaCluster.

kopf serialises the change handlers of one object, but its timers run beside them by design, and events
of owned objects (StatefulSets, Services, ...) are handled as events of other resources. Unserialised,
two reconciles of one cluster would each build its status on what they read and write it back, last
writer wins — so a lost broker's first-seen time could be stamped anew, and its grace period restarted.
``KeyedLocks`` gives each (namespace, name) one ``asyncio.Lock``; holding it, a reconcile re-reads the
KafkaCluster, so it builds on the status the previous one wrote.
"""

from __future__ import annotations

import asyncio


class KeyedLocks:
    """An ``asyncio.Lock`` per key, created on first use (in the event loop that uses it)."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def lock(self, namespace: str, name: str) -> asyncio.Lock:
        return self._locks.setdefault((namespace, name), asyncio.Lock())
