"""Producer id blocks: conditional writes of /latest_producer_id_block in Kafka's JSON, lost races retried."""

from __future__ import annotations

import asyncio
import json

import pytest
from cluster.fakes import FakeZooKeeper

from kafka_broker import metadata as md
from kafka_broker.coordinator.producer_ids import BLOCK_SIZE, ProducerIdManager, reserve_block


def block_of(server: FakeZooKeeper) -> md.ProducerIdBlock:
    data = server.data(md.PRODUCER_ID_BLOCK_PATH)
    assert data is not None
    return md.ProducerIdBlock.decode(data)


def test_first_block_is_created_in_kafkas_format() -> None:
    server = FakeZooKeeper()
    block = reserve_block(server.client(), 2)
    assert (block.block_start, block.block_end) == (0, BLOCK_SIZE - 1)
    data = json.loads(server.data(md.PRODUCER_ID_BLOCK_PATH) or b"")
    assert data == {"version": 1, "broker": 2, "block_start": "0", "block_end": "999"}


def test_blocks_follow_each_other_and_a_lost_race_is_retried() -> None:
    server = FakeZooKeeper()
    reserve_block(server.client(), 1)
    # broker 3 takes 1000..1999 between our read and our write
    server.before_next("set", lambda: reserve_block(server.client(), 3))
    block = reserve_block(server.client(), 2)
    assert (block.broker_id, block.block_start, block.block_end) == (2, 2000, 2999)
    assert block_of(server) == block


def test_losing_the_race_to_create_the_first_block() -> None:
    server = FakeZooKeeper()
    server.before_next("create", lambda: reserve_block(server.client(), 9))
    assert reserve_block(server.client(), 1).block_start == 1000


def test_manager_hands_out_unique_ids_across_blocks_and_brokers() -> None:
    server = FakeZooKeeper()
    one = ProducerIdManager(server.client(), 1, block_size=3)
    two = ProducerIdManager(server.client(), 2, block_size=3)

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
    server = FakeZooKeeper()
    first = asyncio.run(ProducerIdManager(server.client(), 1).next_producer_id())
    second = asyncio.run(ProducerIdManager(server.client(), 1).next_producer_id())
    assert (first, second) == (0, BLOCK_SIZE)


@pytest.mark.parametrize("raw", [b'{"version":1,"broker":0,"block_start":"5","block_end":"9","extra":1}'])
def test_unknown_keys_are_tolerated(raw: bytes) -> None:
    server = FakeZooKeeper()
    server.client().create(md.PRODUCER_ID_BLOCK_PATH, raw, makepath=True)
    assert reserve_block(server.client(), 1).block_start == 10
