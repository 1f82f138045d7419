"""The controller's admin requests on in-process brokers and a fake ZooKeeper: ElectLeaders (preferred and
unclean, with Kafka's per-partition outcomes) and AlterPartitionReassignments (targets checked, the first
step taken before answering, cancellation back to the original replicas, a target changed mid-flight) —
each checked in the znodes written and the replicas the brokers keep."""

from __future__ import annotations

from cluster.fakes import FakeCluster, append, state

from kafka_broker import metadata as md
from kafka_broker.controller import ElectionType, Outcome
from kafka_broker.controller.reassignment import Assignment, listing
from kafka_broker.protocol import ErrorCode

STATE = "/brokers/topics/t/partitions/0/state"
T0 = ("t", 0)


def assignment(cluster: FakeCluster) -> md.TopicAssignment:
    return md.TopicAssignment.decode(cluster.zk.data("/brokers/topics/t") or b"")


def recorded(cluster: FakeCluster, partition: int = 0) -> Assignment:
    topic = assignment(cluster)
    return Assignment(topic.partitions[partition], topic.adding_replicas.get(partition, []),
                      topic.removing_replicas.get(partition, []))


async def topic(cluster: FakeCluster, replicas: list[int], config: dict[str, str] | None = None) -> None:
    await cluster.create_topic("t", {0: replicas}, config)
    await cluster.controller_pass()


Key = tuple[str, int]


async def elect(cluster: FakeCluster, election_type: ElectionType, *keys: Key) -> dict[Key, Outcome]:
    outcomes = await cluster.controller.controller.elect_leaders(keys or None, election_type, timeout_s=5)
    await cluster.sync()
    return outcomes


async def alter(cluster: FakeCluster, targets: dict[Key, list[int] | None]) -> dict[Key, Outcome]:
    outcomes = await cluster.controller.controller.alter_reassignments(targets, timeout_s=5)
    await cluster.sync()
    assert isinstance(outcomes, dict)
    return outcomes


# --- ElectLeaders ----------------------------------------------------------------------------------------


async def test_preferred_election_moves_leadership_home_then_is_not_needed(cluster: FakeCluster) -> None:
    await topic(cluster, [1, 2])
    await cluster.nodes[1].store.write_partition_state("t", 0, state(2, 1, [1, 2]), cluster.zk.version(STATE))
    await cluster.sync()
    assert await elect(cluster, ElectionType.PREFERRED, T0) == {T0: Outcome()}
    assert cluster.zk.state("t", 0) == state(1, 2, [1, 2], controller_epoch=1)
    assert cluster.nodes[1].partition("t").is_leader
    assert await elect(cluster, ElectionType.PREFERRED, T0) == {T0: Outcome(ErrorCode.ELECTION_NOT_NEEDED)}


async def test_preferred_election_needs_the_preferred_replica_in_sync(cluster: FakeCluster) -> None:
    await topic(cluster, [1, 2])
    await cluster.nodes[1].store.write_partition_state("t", 0, state(2, 1, [2]), cluster.zk.version(STATE))
    await cluster.sync()
    outcome = (await elect(cluster, ElectionType.PREFERRED, T0))[T0]
    assert outcome.error == ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE and "t-0" in (outcome.message or "")
    assert cluster.zk.state("t", 0).leader == 2


async def test_every_partition_when_none_are_named_and_unknown_ones_are_reported(cluster: FakeCluster) -> None:
    await topic(cluster, [1, 2])
    outcomes = await elect(cluster, ElectionType.PREFERRED)
    assert outcomes == {T0: Outcome(ErrorCode.ELECTION_NOT_NEEDED)}
    outcomes = await elect(cluster, ElectionType.PREFERRED, ("t", 5), ("nope", 0))
    assert {k: o.error for k, o in outcomes.items()} == {("t", 5): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                                                           ("nope", 0): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}


async def test_unclean_election_brings_an_offline_partition_back_on_a_live_replica(cluster: FakeCluster) -> None:
    await topic(cluster, [1, 2, 3])
    await cluster.nodes[1].store.write_partition_state("t", 0, state(1, 0, [1]), cluster.zk.version(STATE))
    await cluster.sync()
    assert await elect(cluster, ElectionType.UNCLEAN, T0) == {T0: Outcome(ErrorCode.ELECTION_NOT_NEEDED)}
    await cluster.stop_broker(1)
    await cluster.controller_pass()
    assert cluster.zk.state("t", 0).leader == -1  # unclean election is off: offline
    assert await elect(cluster, ElectionType.UNCLEAN, T0) == {T0: Outcome()}
    assert cluster.zk.state("t", 0) == state(2, 2, [2], controller_epoch=2)
    assert cluster.nodes[2].partition("t").is_leader


async def test_unclean_election_with_no_live_replica(cluster: FakeCluster) -> None:
    await topic(cluster, [3])
    await cluster.stop_broker(3)
    await cluster.controller_pass()
    outcome = (await elect(cluster, ElectionType.UNCLEAN, T0))[T0]
    assert outcome.error == ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE


async def test_only_the_controller_elects(cluster: FakeCluster) -> None:
    await topic(cluster, [1, 2])
    other = cluster.nodes[2].controller
    assert await other.elect_leaders([T0], ElectionType.PREFERRED, timeout_s=1) == {
        T0: Outcome(ErrorCode.NOT_CONTROLLER)}
    assert await other.alter_reassignments({T0: [2, 3]}, timeout_s=1) == Outcome(ErrorCode.NOT_CONTROLLER)


async def test_an_election_waits_for_a_pass_at_most_the_timeout(cluster: FakeCluster) -> None:
    await topic(cluster, [1, 2])
    controller = cluster.controller.controller
    async with controller._lock:  # a pass in progress
        outcomes = await controller.elect_leaders([T0], ElectionType.PREFERRED, timeout_s=0.01)
    assert outcomes[T0].error == ErrorCode.REQUEST_TIMED_OUT


# --- AlterPartitionReassignments --------------------------------------------------------------------------


async def test_a_reassignment_is_started_before_the_answer_and_completes(cluster: FakeCluster) -> None:
    await topic(cluster, [1, 2])
    leader = cluster.nodes[1].partition("t")
    append(leader.log, 5, epoch=0)
    leader.after_leader_append()
    await cluster.fetch_round(rounds=2)

    assert await alter(cluster, {T0: [2, 3]}) == {T0: Outcome()}
    assert recorded(cluster) == Assignment([2, 3, 1], [3], [1])  # started: the answer comes after this
    assert listing(cluster.controller.cache, None) == {T0: Assignment([2, 3, 1], [3], [1])}
    for _ in range(4):
        await cluster.fetch_round(rounds=2)
        await cluster.controller_pass()
    assert recorded(cluster) == Assignment([2, 3], [], [])
    assert cluster.zk.state("t", 0).leader == 2 and set(cluster.zk.state("t", 0).isr) == {2, 3}
    assert cluster.zk.data(md.REASSIGN_PARTITIONS_PATH) is None
    assert listing(cluster.controller.cache, None) == {}
    assert cluster.nodes[1].logs.get("t", 0) is None
    assert cluster.nodes[3].partition("t").log.log_end_offset == 5


async def test_targets_are_checked_as_kafka_checks_them(cluster: FakeCluster) -> None:
    await topic(cluster, [1, 2])
    await cluster.stop_broker(3)
    outcomes = await alter(cluster, {T0: [1, 1], ("t", 1): [1], ("x", 0): [1]})
    assert outcomes[T0].error == ErrorCode.INVALID_REPLICA_ASSIGNMENT
    assert "Duplicate replica ids" in (outcomes[T0].message or "")
    assert outcomes[("t", 1)] == outcomes[("x", 0)] == Outcome(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                                                                   "The partition does not exist.")
    for target in ([], [-1, 2], [2, 3]):  # empty, a negative id, a broker that is not alive
        assert (await alter(cluster, {T0: target}))[T0].error == ErrorCode.INVALID_REPLICA_ASSIGNMENT
    assert await alter(cluster, {T0: None}) == {T0: Outcome(ErrorCode.NO_REASSIGNMENT_IN_PROGRESS)}
    assert await alter(cluster, {T0: [2, 1]}) == {T0: Outcome()}  # keeping a replica needs no check
    assert cluster.zk.data(md.REASSIGN_PARTITIONS_PATH) is None and recorded(cluster) == Assignment([2, 1], [], [])


async def test_cancelling_goes_back_to_the_original_replicas(cluster: FakeCluster) -> None:
    await topic(cluster, [1, 2])
    assert await alter(cluster, {T0: [1, 3]}) == {T0: Outcome()}  # 3 does not fetch: it stays out of sync
    await cluster.controller_pass()
    assert [(k, a.adding, a.removing) for k, a in listing(cluster.controller.cache, [T0, ("t", 1)]).items()] == [
        (T0, [3], [2])]
    assert cluster.nodes[3].logs.get("t", 0) is not None

    assert await alter(cluster, {T0: None}) == {T0: Outcome()}
    await cluster.controller_pass()
    assert recorded(cluster) == Assignment([1, 2], [], [])
    assert cluster.zk.data(md.REASSIGN_PARTITIONS_PATH) is None
    assert cluster.nodes[3].logs.get("t", 0) is None  # the added replica is dropped
    assert cluster.zk.state("t", 0).leader == 1
    assert await alter(cluster, {T0: None}) == {T0: Outcome(ErrorCode.NO_REASSIGNMENT_IN_PROGRESS)}


async def test_cancelling_after_leadership_moved_to_an_added_replica(cluster: FakeCluster) -> None:
    await topic(cluster, [1, 2])
    await alter(cluster, {T0: [3]})
    await cluster.fetch_round(rounds=2)
    await cluster.controller_pass()  # lead: 3 takes over (1 and 2 are leaving)
    assert cluster.zk.state("t", 0).leader == 3 and recorded(cluster).in_progress

    await alter(cluster, {T0: None})
    assert cluster.zk.state("t", 0).leader == 1 and 3 not in cluster.zk.state("t", 0).isr
    assert recorded(cluster) == Assignment([1, 2], [], [])
    await cluster.controller_pass()
    assert cluster.nodes[3].logs.get("t", 0) is None and cluster.nodes[1].partition("t").is_leader


async def test_a_target_changed_mid_flight_restarts_from_the_originals_and_completes(cluster: FakeCluster) -> None:
    await cluster.add_broker(4)
    await topic(cluster, [1, 2])
    await alter(cluster, {T0: [1, 3]})
    assert recorded(cluster) == Assignment([1, 3, 2], [3], [2])
    await alter(cluster, {T0: [1, 4]})  # 3 was being added: no longer wanted
    assert recorded(cluster) == Assignment([1, 4, 2], [4], [2])
    assert cluster.nodes[3].logs.get("t", 0) is None
    for _ in range(3):
        await cluster.fetch_round(rounds=2)
        await cluster.controller_pass()
    assert recorded(cluster) == Assignment([1, 4], [], [])
    assert cluster.zk.state("t", 0).isr == (1, 4)


async def test_a_plan_changed_in_zookeeper_mid_flight_completes_too(cluster: FakeCluster) -> None:
    await cluster.add_broker(4)
    await topic(cluster, [1, 2])
    await cluster.nodes[1].store.write_data(md.REASSIGN_PARTITIONS_PATH, md.encode_reassignment({T0: [1, 3]}))
    await cluster.sync()
    await cluster.controller_pass()
    await cluster.nodes[1].store.write_data(md.REASSIGN_PARTITIONS_PATH, md.encode_reassignment({T0: [4, 1]}))
    await cluster.sync()
    for _ in range(4):
        await cluster.controller_pass()
        await cluster.fetch_round(rounds=2)
    assert recorded(cluster) == Assignment([4, 1], [], [])
    assert cluster.zk.data(md.REASSIGN_PARTITIONS_PATH) is None


async def test_a_reassignment_recorded_only_in_the_topic_znode_is_carried_on(cluster: FakeCluster) -> None:
    await topic(cluster, [1, 2])
    read = await cluster.nodes[1].store.read_topic_assignment("t")
    assert read is not None
    moving = md.TopicAssignment({0: [3, 1, 2]}, read[0].topic_id, adding_replicas={0: [3]},
                                removing_replicas={0: [1, 2]})
    await cluster.nodes[1].store.write_topic_assignment("t", moving, read[1])  # left by an earlier controller
    await cluster.sync()
    assert listing(cluster.controller.cache, None) == {T0: Assignment([3, 1, 2], [3], [1, 2])}
    for _ in range(3):
        await cluster.fetch_round(rounds=2)
        await cluster.controller_pass()
    assert recorded(cluster) == Assignment([3], [], [])
