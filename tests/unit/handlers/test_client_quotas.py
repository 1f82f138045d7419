"""DescribeClientQuotas / AlterClientQuotas through their handlers (wire round trip, ZooKeeper in memory), and
Produce / Fetch over a byte-rate quota: throttle_time_ms in the response and in the context (the server
mutes the connection that long), a throttled fetch without data."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cluster.fakes import FakeZooKeeper

from kafka_broker import metadata as md
from kafka_broker.cluster.client_quotas import ANONYMOUS
from kafka_broker.handlers import alter_client_quotas, describe_client_quotas, fetch, produce
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ErrorCode, RequestHeader
from kafka_broker.storage.records import Record, build_batch

from .harness import Broker


@pytest.fixture
def zk(broker: Broker) -> FakeZooKeeper:
    zk = FakeZooKeeper()
    broker.store.zk = zk.client()  # type: ignore[attr-defined]  # the handlers read and write ZooKeeper itself
    return zk


def _entity(**parts: str | None) -> list[dict[str, Any]]:
    return [{"entity_type": t.replace("_", "-"), "entity_name": n} for t, n in parts.items()]


@pytest.mark.parametrize("version", [0, 1])
async def test_alter_then_describe(broker: Broker, zk: FakeZooKeeper, version: int) -> None:
    response = await broker.send(alter_client_quotas, version, {"entries": [
        {"entity": _entity(user="alice", client_id="app"),
         "ops": [{"key": "producer_byte_rate", "value": 1024.0, "remove": False},
                 {"key": "request_percentage", "value": 50.0, "remove": False}]},
        {"entity": _entity(client_id=None), "ops": [{"key": "consumer_byte_rate", "value": 2048.0, "remove": False}]},
        {"entity": _entity(user="bob"), "ops": [{"key": "producer_byte_rate", "value": 0.5, "remove": False}]},
    ], "validate_only": False})
    assert response is not None
    assert [(e["error_code"], e["error_message"]) for e in response["entries"]] == [
        (0, None), (0, None), (ErrorCode.INVALID_REQUEST, "Configuration producer_byte_rate must be a LONG value")]
    assert json.loads(zk.data("/config/users/alice/clients/app")) == {
        "version": 1, "config": {"producer_byte_rate": "1024", "request_percentage": "50.0"}}
    assert json.loads(zk.data("/config/clients/<default>"))["config"] == {"consumer_byte_rate": "2048"}
    assert zk.data("/config/users/bob") is None

    described = await broker.send(describe_client_quotas, version, {"components": [], "strict": False})
    assert described is not None and described["error_code"] == 0
    entries = {tuple((e["entity_type"], e["entity_name"]) for e in entry["entity"]):
               {v["key"]: v["value"] for v in entry["values"]} for entry in described["entries"]}
    assert entries == {
        (("user", "alice"), ("client-id", "app")): {"producer_byte_rate": 1024.0, "request_percentage": 50.0},
        (("client-id", None),): {"consumer_byte_rate": 2048.0},
    }


async def test_describe_with_a_bad_filter_fails_whole(broker: Broker, zk: FakeZooKeeper) -> None:
    response = await broker.send(describe_client_quotas, 1, {"components": [
        {"entity_type": "user", "match_type": 0, "match": "a"},
        {"entity_type": "user", "match_type": 2, "match": None}], "strict": False})
    assert response == {"throttle_time_ms": 0, "error_code": ErrorCode.INVALID_REQUEST,
                        "error_message": "Duplicate user filter component entity type", "entries": None}


# --- enforcement ---------------------------------------------------------------------------------------


def _batch(size: int) -> bytearray:
    return bytearray(build_batch([Record(0, 1_000, b"k", b"v" * size)], base_offset=0))


async def _produce(broker: Broker, *, size: int, acks: int = 1, version: int = 9) -> tuple[Any, RequestContext]:
    request = {"transactional_id": None, "acks": acks, "timeout_ms": 1_000,
               "topic_data": [{"name": "t", "partition_data": [{"index": 0, "records": _batch(size)}]}]}
    ctx = RequestContext(header=RequestHeader(int(produce.API), version, 7, "app"), services=broker.services,
                         size=size + 200)
    return await produce.handle(request, ctx), ctx


async def test_produce_over_its_quota_is_throttled(broker: Broker) -> None:
    broker.add_topic("t", {0: [1, 2]})
    response, ctx = await _produce(broker, size=1000)
    assert response["throttle_time_ms"] == 0 and ctx.throttle_time_ms == 0  # no quota yet: nothing recorded
    broker.services.quotas.produce.update((None, "app"), 100.0)  # 100 B/s: ~1 KB per 10 s window
    response, ctx = await _produce(broker, size=500)
    assert response["throttle_time_ms"] == 0
    response, ctx = await _produce(broker, size=1000)
    assert response["throttle_time_ms"] > 0
    assert ctx.throttle_time_ms == response["throttle_time_ms"]
    assert response["responses"][0]["partition_responses"][0]["error_code"] == 0  # appended all the same
    assert broker.partition("t", 0).log.log_end_offset == 3
    # acks=0: no response, but the connection is still muted
    response, ctx = await _produce(broker, size=1000, acks=0)
    assert response is None and ctx.throttle_time_ms > 0
    # another client id has no quota
    other = RequestContext(header=RequestHeader(int(produce.API), 9, 8, "other"), services=broker.services,
                           size=10**6)
    assert broker.services.quotas.produce.record(ANONYMOUS, other.header.client_id, other.size) == 0


async def test_fetch_over_its_quota_answers_no_data(broker: Broker) -> None:
    broker.add_topic("t", {0: [1, 2]})
    part = broker.partition("t", 0)
    for _ in range(4):
        part.log.append_as_leader(_batch(1000), leader_epoch=part.leader_epoch, now_ms=0)
    part.high_watermark = part.log.log_end_offset
    broker.services.quotas.fetch.update((None, md.DEFAULT_ENTITY), 200.0)  # 200 B/s: 2000 B per window

    async def consume() -> tuple[dict[str, Any], RequestContext]:
        request = {"replica_id": -1, "max_wait_ms": 0, "min_bytes": 1, "max_bytes": 10**6, "isolation_level": 0,
                   "session_id": 0, "session_epoch": -1, "rack_id": "", "forgotten_topics_data": [],
                   "topics": [{"topic": "t", "partitions": [{"partition": 0, "fetch_offset": 0,
                                                              "log_start_offset": -1, "partition_max_bytes": 10**6,
                                                              "current_leader_epoch": -1,
                                                              "last_fetched_epoch": -1}]}]}
        ctx = RequestContext(header=RequestHeader(int(fetch.API), 12, 9, "reader"), services=broker.services)
        return await fetch.handle(request, ctx), ctx

    response, ctx = await consume()
    # max_bytes capped to what the quota lets through in its window: the first batch only (KIP-74)
    records = response["responses"][0]["partitions"][0]["records"]
    assert len(records) < 2 * len(_batch(1000))
    assert response["throttle_time_ms"] == 0
    response, ctx = await consume()
    assert response["throttle_time_ms"] > 0 and ctx.throttle_time_ms == response["throttle_time_ms"]
    assert response["responses"] == []
    # the throttled response's bytes were taken back: the rate is that of the first fetch only
    sensor = next(iter(broker.services.quotas.fetch._sensors.values()))
    assert sensor.rate.measure(sensor.last_record_ms) == pytest.approx(
        (len(records) + 66) / 10, rel=0.01)
