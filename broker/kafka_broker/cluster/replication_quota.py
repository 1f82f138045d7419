"""Replication throttles (KIP-73), as Kafka's ``ReplicationQuotaManager``: what ``kafka-reassign-partitions.sh
--throttle`` sets to keep a reassignment from starving clients.

Two throttles per broker, each a rate in bytes/s (the dynamic broker configs
``leader.replication.throttled.rate`` and ``follower.replication.throttled.rate``; unset is Long.MAX_VALUE, no
throttle) and a list of the replicas it applies to (the topic configs
``leader.replication.throttled.replicas`` and ``follower.replication.throttled.replicas``: ``*`` or
``partition:broker`` pairs). A partition is throttled on this broker's side when its topic's list is ``*`` or
names it with this broker's id: for the leader throttle, this broker as a replica that sends; for the follower
throttle, this broker as a replica that fetches (the reassignment tool names the existing replicas in the
leader list and the new ones in the follower list).

Only replicas outside the ISR are ever held back, so a throttle slows a reassignment or a catching-up replica,
never the followers acknowledged writes wait for:

- **leader side** (the Fetch handler, for a follower's fetch): a throttled partition whose follower is not
  in the ISR gets no records while the throttle's rate is above its bound; the bytes sent for throttled
  partitions are recorded;
- **follower side** (the replica fetcher): a throttled partition is left out of the next Fetch while this
  broker is not in its ISR and the rate is above the bound; the bytes received for throttled partitions are
  recorded. A fetch with every partition left out is not sent: the fetcher backs off
  (``replica.fetch.backoff.ms``) as Kafka's does, but no longer than until the rate is back under the bound.
  Likewise a follower's fetch that got nothing because of the leader throttle waits no longer than that.
  (Kafka waits the full backoff or ``replica.fetch.wait.max.ms``; with a 1 s backoff that keeps replication
  about 20% under the throttle, measured here.)

The rate is a :class:`~kafka_broker.cluster.rate.SimpleRate` over ``replication.quota.window.num`` samples of
``replication.quota.window.size.seconds``, as Kafka's: measured since the oldest sample began and over at
least one window, so a new throttle lets about one window's worth through at once, then keeps to the rate.
With no throttle set (the rate unbounded), nothing is parsed or recorded: the check is one comparison.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from kafka_broker.cluster.rate import SimpleRate, throttle_time_ms
from kafka_broker.config.broker import QuotaSettings

__all__ = ["FOLLOWER", "LEADER", "UNBOUNDED", "ReplicationQuota", "throttled_partitions"]

LEADER = "leader"
FOLLOWER = "follower"
UNBOUNDED = 2**63 - 1
"""Long.MAX_VALUE: the rate of a throttle that is not set."""

TopicConfigs = Callable[[str], Mapping[str, str] | None]
"""A topic's own config overrides (None for a topic not known)."""


def throttled_partitions(value: str, broker_id: int) -> frozenset[int] | None:
    """The partitions a ``*.replication.throttled.replicas`` value throttles on ``broker_id``; None for all
    (``*``). Entries that are not ``partition:broker`` are ignored (the topic config's validation refuses
    them; this only reads)."""
    value = value.strip()
    if value == "*":
        return None
    partitions = set()
    for entry in value.split(","):
        partition, _, broker = entry.strip().partition(":")
        if partition.strip().isdigit() and broker.strip().isdigit() and int(broker) == broker_id:
            partitions.add(int(partition))
    return frozenset(partitions)


class ReplicationQuota:
    """One of a broker's two replication throttles (``kind`` is :data:`LEADER` or :data:`FOLLOWER`)."""

    def __init__(self, kind: str, *, broker_id: int, topic_configs: TopicConfigs,
                 settings: QuotaSettings | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        settings = settings or QuotaSettings()
        self.kind = kind
        self.broker_id = broker_id
        self.rate_key = f"{kind}.replication.throttled.rate"
        self.replicas_key = f"{kind}.replication.throttled.replicas"
        self._topic_configs = topic_configs
        self._clock = clock
        self._rate = SimpleRate(samples=settings.replication_window_num,
                          window_ms=settings.replication_window_size_seconds * 1000)
        self.bound: int = UNBOUNDED
        """The throttle in bytes/s (:data:`UNBOUNDED`: none); set by :meth:`set_bound` on config changes."""
        self._parsed: dict[str, tuple[str, frozenset[int] | None]] = {}

    def set_bound(self, bytes_per_second: int) -> None:
        self.bound = bytes_per_second

    @property
    def active(self) -> bool:
        return self.bound < UNBOUNDED

    def is_throttled(self, topic: str, partition: int) -> bool:
        """Does this throttle apply to ``topic``-``partition`` on this broker (its topic's replica list)?"""
        overrides = self._topic_configs(topic)
        value = overrides.get(self.replicas_key, "") if overrides else ""
        if not value:
            return False
        cached = self._parsed.get(topic)
        if cached is None or cached[0] != value:
            cached = self._parsed[topic] = (value, throttled_partitions(value, self.broker_id))
        partitions = cached[1]
        return partitions is None or partition in partitions

    def exceeded(self) -> bool:
        """Is the measured rate above the bound? Never when no throttle is set."""
        return self.active and self._rate.measure(self._now_ms()) > self.bound

    def time_to_bound_ms(self) -> int:
        """How long until the measured rate is back at the bound if nothing more is replicated (0: it is;
        at least 1 ms while it is above, however little)."""
        if not self.exceeded():
            return 0
        return max(throttle_time_ms(self._rate, self.bound, self._now_ms()), 1)

    def holds_back(self, topic: str, partition: int, *, in_sync: bool) -> bool:
        """Kafka's ``shouldLeaderThrottle`` / ``shouldFollowerThrottle``: not in sync, throttled, over the rate."""
        return self.active and not in_sync and self.is_throttled(topic, partition) and self.exceeded()

    def record(self, topic: str, partition: int, size: int) -> None:
        """Count ``size`` bytes replicated for ``topic``-``partition`` if the throttle applies to it."""
        if self.active and size and self.is_throttled(topic, partition):
            self._rate.record(size, self._now_ms())

    def measured(self) -> float:
        """Bytes/s over the throttle's window (for tests and logs)."""
        return self._rate.measure(self._now_ms())

    def _now_ms(self) -> float:
        return self._clock() * 1000
