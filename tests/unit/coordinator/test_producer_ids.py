"""Producer id blocks: conditional writes of /latest_producer_id_block in Kafka's JSON, lost races retried."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest

from kafka_broker import metadata as md
from kafka_broker.coordinator.producer_ids import BLOCK_SIZE, ProducerIdManager, reserve_block

from .fakes import FakeZk


def test_first_block_is_created_in_kafkas_format() -> None:
    zk = FakeZk()
    block = reserve_block(zk, 2)
    assert (block.block_start, block.block_end) == (0, BLOCK_SIZE - 1)
    data = json.loads(zk.nodes[md.PRODUCER_ID_BLOCK_PATH][0])
    assert data == {"version": 1, "broker": 2, "block_start": "0", "block_end": "999"}


def test_blocks_follow_each_other_and_a_lost_race_is_retried() -> None:
    zk = FakeZk()
    reserve_block(zk, 1)
    zk.racer = lambda z: reserve_block(z, 3)  # broker 3 takes 1000..1999 between our read and write
    block = reserve_block(zk, 2)
    assert (block.broker_id, block.block_start, block.block_end) == (2, 2000, 2999)
    assert md.ProducerIdBlock.decode(zk.nodes[md.PRODUCER_ID_BLOCK_PATH][0]) == block


def test_losing_the_race_to_create_the_first_block() -> None:
    zk = FakeZk()
    zk.racer = lambda z: reserve_block(z, 9)
    assert reserve_block(zk, 1).block_start == 1000


def test_manager_hands_out_unique_ids_across_blocks_and_brokers() -> None:
    zk = FakeZk()
    one = ProducerIdManager(zk, 1, block_size=3)
    two = ProducerIdManager(zk, 2, block_size=3)

    async def take() -> list[int]:
        ids = []
        for _ in range(5):
            ids.append(await one.next_producer_id())
            ids.append(await two.next_producer_id())
        return ids

    ids = asyncio.run(take())
    assert len(set(ids)) == len(ids) == 10
    assert ids[:4] == [0, 3, 1, 4]


def test_a_restarted_broker_takes_a_new_block() -> None:
    zk = FakeZk()
    first = asyncio.run(ProducerIdManager(zk, 1).next_producer_id())
    second = asyncio.run(ProducerIdManager(zk, 1).next_producer_id())
    assert (first, second) == (0, BLOCK_SIZE)


@pytest.mark.parametrize("raw", [b'{"version":1,"broker":0,"block_start":"5","block_end":"9","extra":1}'])
def test_unknown_keys_are_tolerated(raw: bytes) -> None:
    zk = FakeZk()
    zk.nodes[md.PRODUCER_ID_BLOCK_PATH] = (raw, 4)
    assert reserve_block(zk, 1).block_start == 10


def _ctx(manager):
    from kafka_broker.handlers.context import RequestContext

    services = SimpleNamespace(producer_ids=manager)
    return RequestContext(header=None, services=services)  # type: ignore[arg-type]


def test_init_producer_id_handler() -> None:
    from kafka_broker.handlers import HANDLERS, init_producer_id
    from kafka_broker.protocol import ApiKey, ErrorCode

    assert HANDLERS[ApiKey.INIT_PRODUCER_ID].max_version == 4
    manager = ProducerIdManager(FakeZk(), 1)
    idempotent = {"transactional_id": None, "transaction_timeout_ms": 60000, "producer_id": -1, "producer_epoch": -1}
    first = asyncio.run(init_producer_id.handle(idempotent, _ctx(manager)))
    second = asyncio.run(init_producer_id.handle(idempotent, _ctx(manager)))
    assert (first["error_code"], first["producer_id"], first["producer_epoch"]) == (ErrorCode.NONE, 0, 0)
    assert second["producer_id"] == 1
    transactional = {**idempotent, "transactional_id": "tx-1"}
    refused = asyncio.run(init_producer_id.handle(transactional, _ctx(manager)))
    assert refused["error_code"] == ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED and refused["producer_id"] == -1
    unavailable = asyncio.run(init_producer_id.handle(idempotent, _ctx(None)))
    assert unavailable["error_code"] == ErrorCode.COORDINATOR_NOT_AVAILABLE
