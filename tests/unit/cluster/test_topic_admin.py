import random
from collections import Counter

import pytest

from kafka_broker.cluster.topic_admin import assign_replicas, rack_alternated, validate_topic_name
from kafka_broker.protocol.errors import ErrorCode, KafkaError


def test_assignment_spreads_leaders_and_replicas_evenly():
    assignment = assign_replicas([1, 2, 3], 6, 2, rng=random.Random(7))
    assert sorted(assignment) == list(range(6))
    for replicas in assignment.values():
        assert len(replicas) == 2 and len(set(replicas)) == 2
    leaders = Counter(r[0] for r in assignment.values())
    assert set(leaders.values()) == {2}
    holders = Counter(b for r in assignment.values() for b in r)
    assert set(holders.values()) == {4}


def test_added_partitions_continue_the_pattern():
    assignment = assign_replicas([1, 2, 3], 3, 3, first_partition=3, rng=random.Random(1))
    assert sorted(assignment) == [3, 4, 5]
    assert all(sorted(r) == [1, 2, 3] for r in assignment.values())


def test_replication_factor_above_broker_count_is_refused():
    with pytest.raises(KafkaError) as info:
        assign_replicas([1, 2, 3], 1, 4)
    assert info.value.code == ErrorCode.INVALID_REPLICATION_FACTOR
    assert "larger than available brokers: 3" in str(info.value)


def test_rack_alternation_puts_replicas_on_different_racks():
    racks = {1: "a", 2: "a", 3: "b", 4: "b"}
    assert rack_alternated([1, 2, 3, 4], racks) == [1, 3, 2, 4]
    for replicas in assign_replicas([1, 2, 3, 4], 8, 2, racks=racks, rng=random.Random(3)).values():
        assert racks[replicas[0]] != racks[replicas[1]]


@pytest.mark.parametrize("name", ["", ".", "..", "a" * 250, "bad name", "bad/name"])
def test_illegal_topic_names(name):
    with pytest.raises(KafkaError) as info:
        validate_topic_name(name)
    assert info.value.code == ErrorCode.INVALID_TOPIC_EXCEPTION


def test_legal_topic_name():
    validate_topic_name("orders.v1_eu-west")
