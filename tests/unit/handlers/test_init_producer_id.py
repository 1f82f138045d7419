"""InitProducerId: idempotent producers get fresh producer ids at epoch 0 from this broker's block of ids
(reserved in ZooKeeper, here an in-memory one); transactional ids are refused, as kopfka has no
transactions."""

from __future__ import annotations

from typing import Any

import pytest
from kazoo.exceptions import ConnectionLoss

from kafka_broker import metadata as md
from kafka_broker.handlers import init_producer_id
from kafka_broker.protocol import ErrorCode

from .harness import Broker

VERSIONS = list(range(init_producer_id.VERSIONS[0], init_producer_id.VERSIONS[1] + 1))


def request(transactional_id: str | None = None, *, producer_id: int = -1, producer_epoch: int = -1) -> dict[str, Any]:
    return {"transactional_id": transactional_id, "transaction_timeout_ms": 60_000, "producer_id": producer_id,
            "producer_epoch": producer_epoch}


def answer(response: dict[str, Any] | None) -> tuple[int, int, int]:
    assert response is not None and response["throttle_time_ms"] == 0
    return response["error_code"], response["producer_id"], response["producer_epoch"]


@pytest.mark.parametrize("version", VERSIONS)
async def test_idempotent_producers_get_fresh_ids_from_the_reserved_block(broker: Broker, version: int) -> None:
    broker.start_producer_ids(block_size=2)
    got = [answer(await broker.send(init_producer_id, version, request())) for _ in range(3)]
    assert got == [(ErrorCode.NONE, 0, 0), (ErrorCode.NONE, 1, 0), (ErrorCode.NONE, 2, 0)]
    # the third id came from a second block: ZooKeeper holds the last one reserved, by this broker
    data, _stat = broker.zk.get(md.PRODUCER_ID_BLOCK_PATH)
    block = md.ProducerIdBlock.decode(data)
    assert (block.broker_id, block.block_start, block.block_end) == (1, 2, 3)


@pytest.mark.parametrize("version", [3, 4])
async def test_a_producer_asking_for_an_epoch_bump_gets_a_new_id(broker: Broker, version: int) -> None:
    """v3+ (KIP-360): an idempotent producer sends its id and epoch after an error; like Kafka without a
    transactional id, the broker hands out a new producer id at epoch 0."""
    broker.start_producer_ids()
    first = answer(await broker.send(init_producer_id, version, request()))
    bumped = answer(await broker.send(init_producer_id, version, request(producer_id=first[1], producer_epoch=0)))
    assert bumped == (ErrorCode.NONE, first[1] + 1, 0)


@pytest.mark.parametrize("version", VERSIONS)
async def test_transactional_ids_are_refused(broker: Broker, version: int) -> None:
    """Clients treat TRANSACTIONAL_ID_AUTHORIZATION_FAILED as fatal (COORDINATOR_NOT_AVAILABLE would have them
    retry until they time out)."""
    broker.start_producer_ids()
    assert answer(await broker.send(init_producer_id, version, request("tx-1"))) == (
        ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, -1, -1)
    assert broker.zk_server.data(md.PRODUCER_ID_BLOCK_PATH) is None  # no id was taken


@pytest.mark.parametrize("version", [0, 4])
async def test_without_a_producer_id_manager_or_zookeeper_the_coordinator_is_not_available(broker: Broker,
                                                                                          version: int) -> None:
    assert answer(await broker.send(init_producer_id, version, request())) == (
        ErrorCode.COORDINATOR_NOT_AVAILABLE, -1, -1)
    broker.start_producer_ids()

    broker.zk_server.fail_next("get", ConnectionLoss(md.PRODUCER_ID_BLOCK_PATH))
    assert answer(await broker.send(init_producer_id, version, request())) == (
        ErrorCode.COORDINATOR_NOT_AVAILABLE, -1, -1)


@pytest.mark.parametrize(("producer_id", "producer_epoch"), [(-1, 3), (17, -1)])
async def test_a_producer_id_without_an_epoch_is_an_invalid_request(broker: Broker, producer_id: int,
                                                                    producer_epoch: int) -> None:
    broker.start_producer_ids()
    response = await broker.send(init_producer_id, 4, request(producer_id=producer_id, producer_epoch=producer_epoch))
    assert answer(response) == (ErrorCode.INVALID_REQUEST, -1, -1)


async def test_the_empty_transactional_id_is_an_invalid_request(broker: Broker) -> None:
    broker.start_producer_ids()
    assert answer(await broker.send(init_producer_id, 4, request(""))) == (ErrorCode.INVALID_REQUEST, -1, -1)
