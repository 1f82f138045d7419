"""Which brokers are lost, since when, and which of them have been gone longer than the grace period.

A broker is *lost* when partitions still name it as a replica but it has no registration in ZooKeeper
(``/brokers/ids/<id>`` is ephemeral: it vanishes when the broker's session ends — node gone, pod evicted,
PVC lost and the broker unable to start). A short absence (a restart, a rolling update) is normal, so only
a broker lost for longer than ``spec.rebalance.gracePeriodSeconds`` has its replicas moved to the
registered brokers, so that every partition regains its replication factor. The "since" times live in the
KafkaCluster's status, so they survive operator restarts.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def lost_brokers(assignments: Mapping[str, Mapping[int, Sequence[int]]], registered: Iterable[int]) -> set[int]:
    named = {b for parts in assignments.values() for replicas in parts.values() for b in replicas}
    return named - set(registered)


def lost_since(
    previous: Iterable[Mapping[str, object]], lost: set[int], *, now: datetime.datetime
) -> list[dict[str, object]]:
    """The status list ``[{id, since}]``: first-seen times kept for brokers still lost, new ones stamped now."""
    known = {int(entry["id"]): str(entry["since"]) for entry in previous}
    stamp = now.strftime(_FORMAT)
    return [{"id": b, "since": known.get(b, stamp)} for b in sorted(lost)]


def overdue(entries: Iterable[Mapping[str, object]], *, grace_seconds: int, now: datetime.datetime) -> list[int]:
    result = []
    for entry in entries:
        since = datetime.datetime.strptime(str(entry["since"]), _FORMAT).replace(tzinfo=datetime.UTC)
        if (now - since).total_seconds() >= grace_seconds:
            result.append(int(entry["id"]))
    return sorted(result)
