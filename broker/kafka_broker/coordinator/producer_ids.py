"""Producer ids for idempotent producers, handed out from blocks reserved in ZooKeeper.

As Kafka's ZooKeeper-era ``ProducerIdManager``: ``/latest_producer_id_block`` holds the last block
reserved by any broker, ``{"version":1,"broker":2,"block_start":"1000","block_end":"1999"}``
(:class:`kafka_broker.metadata.ProducerIdBlock`). To reserve the next block a broker reads the
znode and its version, and writes the block that follows (``block_end + 1`` …, :data:`BLOCK_SIZE`
ids) *conditionally on that version*; a lost race (BadVersion, or NodeExists when creating the
first block) means another broker reserved a block in between: read and try again. Ids are then
handed out from the local block without touching ZooKeeper until it is used up, so ids are unique
across the cluster and across restarts (a restarted broker reserves a fresh block).
"""

from __future__ import annotations

import asyncio
import logging

from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

from kafka_broker import metadata as md

log = logging.getLogger(__name__)

BLOCK_SIZE = 1000
"""Producer ids per block, as Kafka's ``ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE``."""
MAX_PRODUCER_ID = 2**63 - 1


def reserve_block(zk: KazooClient, broker_id: int, *, block_size: int = BLOCK_SIZE) -> md.ProducerIdBlock:
    """Reserve the next block in ZooKeeper (blocking; retries lost races until it wins one)."""
    while True:
        try:
            data, stat = zk.get(md.PRODUCER_ID_BLOCK_PATH)
        except NoNodeError:
            data, stat = None, None
        current = md.ProducerIdBlock.decode(data) if data else None
        start = 0 if current is None else current.block_end + 1
        if start > MAX_PRODUCER_ID - block_size:
            raise RuntimeError("producer ids are exhausted")
        block = md.ProducerIdBlock(broker_id, start, start + block_size - 1)
        try:
            if stat is None:
                zk.create(md.PRODUCER_ID_BLOCK_PATH, block.encode(), makepath=True)
            else:
                zk.set(md.PRODUCER_ID_BLOCK_PATH, block.encode(), version=stat.version)
        except (BadVersionError, NodeExistsError, NoNodeError):
            continue  # another broker reserved a block in between: read again
        log.info("reserved producer ids %d..%d", block.block_start, block.block_end)
        return block


class ProducerIdManager:
    """This broker's source of producer ids (one block at a time, reserved in ZooKeeper)."""

    def __init__(self, zk: KazooClient, broker_id: int, *, block_size: int = BLOCK_SIZE) -> None:
        self.zk = zk
        self.broker_id = broker_id
        self.block_size = block_size
        self._block: md.ProducerIdBlock | None = None
        self._next = 0
        self._lock = asyncio.Lock()

    async def next_producer_id(self) -> int:
        """A producer id never handed out before in this cluster."""
        async with self._lock:
            if self._block is None or self._next > self._block.block_end:
                self._block = await asyncio.to_thread(reserve_block, self.zk, self.broker_id,
                                                      block_size=self.block_size)
                self._next = self._block.block_start
            producer_id = self._next
            self._next += 1
            return producer_id
