from kafka_broker.controller import election
from kafka_broker.metadata import NO_LEADER, PartitionState


def state(leader, epoch, isr):
    return PartitionState(leader=leader, leader_epoch=epoch, isr=tuple(isr), controller_epoch=1)


def test_initial_state_uses_live_replicas_in_order():
    assert election.initial_state([2, 1, 3], {1, 3}, 5) == PartitionState(1, 0, (1, 3), 5)
    assert election.initial_state([2], {1}, 5) is None


def test_dead_leader_replaced_by_first_live_isr_member():
    new = election.on_broker_change([1, 2, 3], state(1, 4, [1, 2, 3]), {2, 3}, unclean=False, controller_epoch=2)
    assert new == PartitionState(2, 5, (2, 3), 2)


def test_out_of_sync_replica_never_leads_without_unclean():
    new = election.on_broker_change([1, 2], state(1, 4, [1]), {2}, unclean=False, controller_epoch=2)
    assert new is not None and new.leader == NO_LEADER and new.isr == (1,)
    # already offline: nothing to write
    assert election.on_broker_change([1, 2], state(NO_LEADER, 5, [1]), {2}, unclean=False, controller_epoch=2) is None


def test_unclean_election_takes_any_live_replica():
    new = election.on_broker_change([1, 2], state(1, 4, [1]), {2}, unclean=True, controller_epoch=2)
    assert new == PartitionState(2, 5, (2,), 2)


def test_returning_last_isr_member_regains_leadership():
    new = election.on_broker_change([1, 2], state(NO_LEADER, 5, [1]), {1, 2}, unclean=False, controller_epoch=2)
    assert new == PartitionState(1, 6, (1,), 2)


def test_dead_follower_leaves_isr_with_epoch_bump():
    new = election.on_broker_change([1, 2, 3], state(1, 4, [1, 2, 3]), {1, 2}, unclean=False, controller_epoch=2)
    assert new == PartitionState(1, 5, (1, 2), 2)
    assert election.on_broker_change([1, 2], state(1, 4, [1, 2]), {1, 2}, unclean=False, controller_epoch=2) is None


def test_preferred_leader_only_when_in_sync_and_live():
    assert election.preferred([1, 2], state(2, 3, [1, 2]), {1, 2}, 9) == PartitionState(1, 4, (1, 2), 9)
    assert election.preferred([1, 2], state(2, 3, [2]), {1, 2}, 9) is None
    assert election.preferred([1, 2], state(1, 3, [1, 2]), {1, 2}, 9) is None


def test_leader_moves_into_reassignment_targets():
    assert election.leader_within([2, 3], state(1, 3, [1, 2, 3]), {1, 2, 3}, 9) == PartitionState(2, 4, (1, 2, 3), 9)
    assert election.leader_within([2, 3], state(2, 3, [1, 2, 3]), {1, 2, 3}, 9) is None
