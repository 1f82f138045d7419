"""Replication throttles: which replicas a throttle applies to, when it holds one back, how it measures."""

from __future__ import annotations

from kafka_broker.cluster.rate import Rate, SimpleRate
from kafka_broker.cluster.replication_quota import FOLLOWER, LEADER, UNBOUNDED, ReplicationQuota, throttled_partitions


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def quota(kind: str, configs: dict[str, dict[str, str]], clock: Clock, *, broker_id: int = 2) -> ReplicationQuota:
    return ReplicationQuota(kind, broker_id=broker_id, topic_configs=configs.get, clock=clock)


def test_throttled_partitions_of_a_broker() -> None:
    assert throttled_partitions("*", 2) is None
    assert throttled_partitions("0:1,0:2,1:2,3:3", 2) == {0, 1}
    assert throttled_partitions(" 0 : 2 , 5:2", 2) == {0, 5}
    assert throttled_partitions("", 2) == frozenset()
    assert throttled_partitions("bad,1:x,2:2", 2) == {2}


def test_only_named_replicas_are_throttled() -> None:
    configs = {"t": {"follower.replication.throttled.replicas": "0:2,1:3",
                     "leader.replication.throttled.replicas": "*"}}
    clock = Clock()
    follower, leader = quota(FOLLOWER, configs, clock), quota(LEADER, configs, clock)
    assert follower.is_throttled("t", 0) and not follower.is_throttled("t", 1)
    assert leader.is_throttled("t", 0) and leader.is_throttled("t", 7)
    assert not follower.is_throttled("other", 0)
    configs["t"]["follower.replication.throttled.replicas"] = "1:2"  # a changed config is read again
    assert follower.is_throttled("t", 1) and not follower.is_throttled("t", 0)


def test_no_throttle_holds_nothing_back_and_records_nothing() -> None:
    configs = {"t": {"follower.replication.throttled.replicas": "*"}}
    clock = Clock()
    follower = quota(FOLLOWER, configs, clock)
    assert follower.bound == UNBOUNDED and not follower.active
    follower.record("t", 0, 10**12)
    assert follower.measured() == 0
    assert not follower.holds_back("t", 0, in_sync=False)
    assert follower.time_to_bound_ms() == 0


def test_held_back_over_the_rate_unless_in_sync() -> None:
    configs = {"t": {"follower.replication.throttled.replicas": "0:2"}}
    clock = Clock()
    follower = quota(FOLLOWER, configs, clock)
    follower.set_bound(1000)
    follower.record("t", 0, 500)
    assert not follower.exceeded()  # 500 bytes over the minimum window of one second
    follower.record("t", 0, 1000)
    assert follower.exceeded()
    assert follower.holds_back("t", 0, in_sync=False)
    assert not follower.holds_back("t", 0, in_sync=True)  # the ISR is never throttled
    assert not follower.holds_back("t", 1, in_sync=False)  # nor a replica the throttle does not name
    follower.record("t", 1, 10**9)  # bytes of a partition not throttled do not count
    assert follower.measured() == 1500
    # 1500 bytes in 1 s against 1000/s: Kafka's estimate, (1500 - 1000) / 1000 * 1 s
    assert follower.time_to_bound_ms() == 500
    clock.now += 1.0  # measured over at least one window: still 1500/s
    assert follower.exceeded() and follower.time_to_bound_ms() >= 1
    clock.now += 0.5  # 1500 bytes over 1.5 s
    assert not follower.exceeded() and follower.time_to_bound_ms() == 0


def test_simple_rate_counts_one_window_at_least() -> None:
    """Kafka's SimpleRate (replication) against its Rate (client quotas): a burst right at the start is measured
    over one window, not over samples - 1 windows, so a throttle does not let ten seconds' worth through at once."""
    simple, rate = SimpleRate(samples=11, window_ms=1000), Rate(samples=11, window_ms=1000)
    for stat in (simple, rate):
        stat.record(10_000, 0)
    assert simple.measure(0) == 10_000
    assert rate.measure(0) == 1_000
    assert simple.measure(4000) == 2_500  # since the oldest sample began
