"""roller.py: one broker at a time, never while another is away, controller last."""

from __future__ import annotations

from kafka_operator.roller import BrokerPod, RestartReason, plan_roll


def pods(n: int, *, hash_: str = "old", ready: bool = True, **overrides) -> list[BrokerPod]:
    result = [
        BrokerPod(name=f"c-broker-{i}", ordinal=i, ready=ready, config_hash=hash_, revision="r1") for i in range(n)
    ]
    for index, fields in overrides.items():
        i = int(index.removeprefix("p"))
        result[i] = BrokerPod(**{**result[i].__dict__, **fields})
    return result


def test_nothing_to_do_when_every_pod_is_current():
    decision = plan_roll(pods(3, hash_="new"), replicas=3, desired_hash="new", update_revision="r1")
    assert decision.restart is None and not decision.rolling


def test_config_change_restarts_highest_ordinal_first_and_controller_last():
    decision = plan_roll(pods(3), replicas=3, desired_hash="new", update_revision="r1", controller_id=2)
    assert decision.restart.name == "c-broker-1"
    assert decision.reasons == (RestartReason.CONFIG_CHANGED,)
    assert set(decision.pending) == {"c-broker-0", "c-broker-1", "c-broker-2"}


def test_waits_while_a_broker_is_not_ready():
    current = pods(3, p1={"ready": False})
    decision = plan_roll(current, replicas=3, desired_hash="new", update_revision="r1")
    assert decision.restart is None and decision.rolling
    assert "c-broker-1" in decision.waiting_for


def test_waits_while_a_pod_is_missing():
    decision = plan_roll(pods(2), replicas=3, desired_hash="new", update_revision="r1")
    assert decision.restart is None and "missing" in decision.waiting_for


def test_pod_spec_change_and_manual_annotation():
    current = pods(2, hash_="h", p0={"revision": "r0"}, p1={"manual": True})
    decision = plan_roll(current, replicas=2, desired_hash="h", update_revision="r1")
    assert decision.pending == {
        "c-broker-0": (RestartReason.POD_SPEC_CHANGED,),
        "c-broker-1": (RestartReason.MANUAL,),
    }
    assert decision.restart.name == "c-broker-1"
