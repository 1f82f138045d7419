"""model/rebalance.py: lost brokers, since when, and which are overdue."""

from __future__ import annotations

import datetime

from kafka_operator.model.rebalance import lost_brokers, lost_since, overdue, parse_lost

T0 = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def test_a_broker_named_by_partitions_but_not_registered_is_lost():
    assignments = {"a": {0: [1, 2], 1: [2, 3]}, "b": {0: [4]}}
    assert lost_brokers(assignments, registered=[1, 2, 3]) == {4}
    assert lost_brokers(assignments, registered=[1, 2, 3, 4, 5]) == set()


def test_first_seen_time_is_kept_and_returning_brokers_are_forgotten():
    first = lost_since([], {3}, now=T0)
    assert first == [{"id": 3, "since": "2026-01-01T12:00:00Z"}]
    later = lost_since(first, {3, 4}, now=T0 + datetime.timedelta(seconds=30))
    assert later == [{"id": 3, "since": "2026-01-01T12:00:00Z"}, {"id": 4, "since": "2026-01-01T12:00:30Z"}]
    assert lost_since(later, {4}, now=T0) == [{"id": 4, "since": "2026-01-01T12:00:30Z"}]


def test_only_brokers_past_the_grace_period_are_overdue():
    entries = [{"id": 3, "since": "2026-01-01T12:00:00Z"}, {"id": 4, "since": "2026-01-01T12:01:30Z"}]
    now = T0 + datetime.timedelta(seconds=120)
    assert overdue(entries, grace_seconds=120, now=now) == [3]
    assert overdue(entries, grace_seconds=10, now=now) == [3, 4]


def test_lost_brokers_read_back_from_status_skip_malformed_entries():
    raw = [
        {"id": 3, "since": "2026-01-01T12:00:00Z"},
        {"id": "4", "since": "2026-01-01T12:00:00Z"},
        {"id": 5, "since": "yesterday"},
        {"since": "2026-01-01T12:00:00Z"},
    ]
    assert parse_lost(raw) == [{"id": 3, "since": "2026-01-01T12:00:00Z"}]
