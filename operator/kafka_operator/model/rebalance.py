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
from typing import TypedDict

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class LostBroker(TypedDict):
    """One entry of ``status.lostBrokers``."""

    id: int
    since: str
    """When the broker was first seen lost, ``YYYY-MM-DDTHH:MM:SSZ`` (UTC)."""


def parse_lost(entries: Iterable[Mapping[str, object]]) -> list[LostBroker]:
    """``status.lostBrokers`` as read back from the API; malformed entries (a hand edit) are skipped."""
    result: list[LostBroker] = []
    for entry in entries:
        broker, since = entry.get("id"), entry.get("since")
        if isinstance(broker, int) and isinstance(since, str):
            try:
                datetime.datetime.strptime(since, _FORMAT)
            except ValueError:
                continue
            result.append({"id": broker, "since": since})
    return result


def lost_brokers(assignments: Mapping[str, Mapping[int, Sequence[int]]], registered: Iterable[int]) -> set[int]:
    named = {b for parts in assignments.values() for replicas in parts.values() for b in replicas}
    return named - set(registered)


def lost_since(previous: Iterable[LostBroker], lost: set[int], *, now: datetime.datetime) -> list[LostBroker]:
    """The status list ``[{id, since}]``: first-seen times kept for brokers still lost, new ones stamped now."""
    known = {entry["id"]: entry["since"] for entry in previous}
    stamp = now.strftime(_FORMAT)
    return [{"id": b, "since": known.get(b, stamp)} for b in sorted(lost)]


def overdue(entries: Iterable[LostBroker], *, grace_seconds: int, now: datetime.datetime) -> list[int]:
    result = []
    for entry in entries:
        since = datetime.datetime.strptime(entry["since"], _FORMAT).replace(tzinfo=datetime.UTC)
        if (now - since).total_seconds() >= grace_seconds:
            result.append(entry["id"])
    return sorted(result)
