"""One partition replica hosted by this broker: its log, its role, the high watermark and the ISR.

As **leader** the partition appends producer batches, tracks every follower's log end offset
(learned from the follower's Fetch requests) and advances the high watermark to the smallest
log end offset in the ISR. A follower that has not caught up to the leader's end offset for
``replica.lag.time.max.ms`` is dropped from the ISR; one that catches up is added back (the ISR
change itself is written to ZooKeeper by the replica manager, conditionally on the znode version).
Producers with ``acks=all`` wait until the high watermark passes their batch.

As **follower** it appends what the replica fetcher brings (offsets as the leader assigned
them) and takes the leader's high watermark, capped at its own end offset.

Consumers read below the high watermark only; waiters (long-polling fetches, acks=all produces)
are woken when the end offset or the high watermark moves.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Container
from dataclasses import dataclass, field

from kafka_broker.protocol.errors import ErrorCode, KafkaError
from kafka_broker.storage.log import PartitionLog


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class FollowerState:
    """What the leader knows of one follower, from its fetches."""

    log_end_offset: int = -1
    last_fetch_ms: int = 0
    last_caught_up_ms: int = field(default_factory=now_ms)
    last_fetch_leader_end_offset: int = 0
    """The leader's log end offset when the previous fetch arrived: reaching it shows the follower was
    caught up at that fetch (Kafka's ``lastFetchLeaderLogEndOffset``)."""
    log_start_offset: int = -1
    """The follower's log start, as its last fetch said (-1: not known yet); the low watermark's input."""


class Partition:
    def __init__(
        self, topic: str, index: int, log: PartitionLog, *, broker_id: int, clock: Callable[[], int] = now_ms
    ) -> None:
        self.topic = topic
        self.index = index
        self.log = log
        self.broker_id = broker_id
        self.leader_id = -1
        self.leader_epoch = -1
        self.replicas: list[int] = []
        self.isr: tuple[int, ...] = ()
        self.high_watermark = 0
        self.epoch_start_offset = 0
        """Log end offset when this replica became leader: a follower rejoins the ISR only past it."""
        self.followers: dict[int, FollowerState] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self.deleted = False
        self.topic_id: str | None = None
        """The id of the topic this replica belongs to (None: the topic has none yet). A topic deleted and
        created again under its name has a new id: this replica is then of the old one, and is dropped."""
        self._clock = clock
        """Wall-clock milliseconds, for follower lag (injectable, so tests drive time)."""

    # --- role ------------------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self.leader_id == self.broker_id and not self.deleted

    def become_leader(self, *, leader_epoch: int, isr: tuple[int, ...], replicas: list[int]) -> None:
        """Take leadership at ``leader_epoch``: record the epoch's start offset, reset follower state."""
        now = self._clock()
        self.leader_id = self.broker_id
        self.leader_epoch = leader_epoch
        self.isr = isr
        self.replicas = list(replicas)
        self.log.leader_epochs.assign(leader_epoch, self.log.log_end_offset)
        self.epoch_start_offset = self.log.log_end_offset
        self.followers = {
            r: FollowerState(last_fetch_ms=now, last_caught_up_ms=now,
                             last_fetch_leader_end_offset=self.log.log_end_offset)
            for r in replicas if r != self.broker_id
        }
        self._maybe_advance_high_watermark()
        self.wake()

    def become_follower(self, *, leader_id: int, leader_epoch: int, isr: tuple[int, ...], replicas: list[int]) -> None:
        self.leader_id = leader_id
        self.leader_epoch = leader_epoch
        self.isr = isr
        self.replicas = list(replicas)
        self.followers = {}
        self.wake()

    def update_state(self, *, isr: tuple[int, ...], replicas: list[int]) -> None:
        """The ISR or replica set changed without a leader change."""
        isr_changed = isr != self.isr
        self.isr = isr
        self.replicas = list(replicas)
        for r in replicas:
            if r != self.broker_id and r not in self.followers:
                self.followers[r] = FollowerState(last_caught_up_ms=self._clock())
        for r in list(self.followers):
            if r not in replicas:
                del self.followers[r]
        if self.is_leader:
            self._maybe_advance_high_watermark()
            if isr_changed:
                self.wake()  # acks=all waiters re-check the ISR against min.insync.replicas

    # --- leader side ------------------------------------------------------------------------------

    def check_leader(self, current_leader_epoch: int = -1) -> None:
        """Raise the error a client must see if this replica cannot serve as leader."""
        if not self.is_leader:
            raise KafkaError(code=ErrorCode.NOT_LEADER_OR_FOLLOWER)
        if current_leader_epoch >= 0:
            if current_leader_epoch < self.leader_epoch:
                raise KafkaError(code=ErrorCode.FENCED_LEADER_EPOCH)
            if current_leader_epoch > self.leader_epoch:
                raise KafkaError(code=ErrorCode.UNKNOWN_LEADER_EPOCH)

    def update_follower(self, follower_id: int, fetch_offset: int, log_start_offset: int = -1) -> bool:
        """A follower fetched from ``fetch_offset``: it holds everything before it, from ``log_start_offset``
        (sent by followers from Fetch v5; a move of it wakes the waiters: DeleteRecords waits on it).

        The follower was caught up *now* if it reached our log end, or at its previous fetch if it
        reached the log end we had then — under steady produce a follower that keeps up never sees the
        end offset of the moment its next fetch arrives (Kafka's ``Replica.updateFetchState``).
        Returns True when the follower should be added back to the ISR.
        """
        now = self._clock()
        leader_end = self.log.log_end_offset
        state = self.followers.get(follower_id)
        if state is None:
            state = self.followers[follower_id] = FollowerState(
                last_fetch_ms=now, last_caught_up_ms=now, last_fetch_leader_end_offset=leader_end)
        if fetch_offset >= leader_end:
            state.last_caught_up_ms = max(state.last_caught_up_ms, now)
        elif fetch_offset >= state.last_fetch_leader_end_offset:
            state.last_caught_up_ms = max(state.last_caught_up_ms, state.last_fetch_ms)
        state.log_end_offset = fetch_offset
        state.last_fetch_ms = now
        state.last_fetch_leader_end_offset = leader_end
        if log_start_offset != state.log_start_offset:
            state.log_start_offset = log_start_offset
            self.wake()
        self._maybe_advance_high_watermark()
        return (
            follower_id not in self.isr
            and follower_id in self.replicas
            and fetch_offset >= self.high_watermark
            and fetch_offset >= self.epoch_start_offset
        )

    def low_watermark(self, alive: Container[int]) -> int:
        """The smallest log start of this leader and of its followers on live brokers (Kafka's
        ``lowWatermarkIfLeader``): every replica that counts has deleted the records below it. A follower
        that has not yet said its log start counts as -1, as in Kafka."""
        low = self.log.log_start_offset
        for replica, state in self.followers.items():
            if replica in alive and state.log_start_offset < low:
                low = state.log_start_offset
        return low

    def lagging_followers(self, max_lag_ms: int) -> list[int]:
        """ISR members that have not been caught up within ``max_lag_ms``: to be dropped."""
        now = self._clock()
        out = []
        for replica in self.isr:
            if replica == self.broker_id:
                continue
            state = self.followers.get(replica)
            if state is None or now - state.last_caught_up_ms > max_lag_ms:
                out.append(replica)
        return out

    def _maybe_advance_high_watermark(self, *, wake: bool = True) -> None:
        if not self.is_leader:
            return
        candidate = self.log.log_end_offset
        followers = self.followers
        for replica in self.isr:
            if replica != self.broker_id:
                state = followers.get(replica)
                if state is None:
                    return  # an ISR member we know nothing of holds the high watermark where it is
                if state.log_end_offset < candidate:
                    candidate = state.log_end_offset
        if candidate > self.high_watermark:
            self.high_watermark = candidate
            if wake:
                self.wake()

    def after_leader_append(self) -> None:
        """The log end moved (and, alone in the ISR, the high watermark): wake every waiter once."""
        self._maybe_advance_high_watermark(wake=False)
        self.wake()

    # --- follower side ----------------------------------------------------------------------------

    def update_follower_high_watermark(self, leader_high_watermark: int) -> None:
        hw = min(leader_high_watermark, self.log.log_end_offset)
        if hw != self.high_watermark:
            self.high_watermark = hw
            self.wake()

    async def wait_until_replicated(self, required_offset: int, *, timeout_s: float, min_insync: int) -> ErrorCode:
        """Wait until the high watermark reaches ``required_offset`` (every ISR member has what precedes it).

        The acks=all wait, shared by Produce and the coordinators' own writes. Answers the error the
        waiting client must see: leadership lost, the ISR shrank below ``min_insync`` (also when the
        high watermark got there because the ISR shrank: the batch is then on too few brokers, and
        Kafka answers the same), or time ran out.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout_s, 0)
        while True:
            if not self.is_leader:
                return ErrorCode.NOT_LEADER_OR_FOLLOWER
            if len(self.isr) < min_insync:
                return ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND
            if self.high_watermark >= required_offset:
                return ErrorCode.NONE
            remaining = deadline - loop.time()
            if remaining <= 0:
                return ErrorCode.REQUEST_TIMED_OUT
            future: asyncio.Future[None] = loop.create_future()
            self.add_waiter(future)
            try:
                await asyncio.wait_for(future, remaining)
            except TimeoutError:
                pass
            finally:
                self.remove_waiter(future)

    # --- waiting for change -------------------------------------------------------------------------

    def add_waiter(self, future: asyncio.Future[None]) -> None:
        self._waiters.append(future)

    def remove_waiter(self, future: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):
            self._waiters.remove(future)

    def wake(self) -> None:
        """Resolve every waiter: something (end offset, high watermark, role) changed."""
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    def __repr__(self) -> str:
        return (
            f"Partition({self.topic}-{self.index} leader={self.leader_id} epoch={self.leader_epoch} "
            f"isr={list(self.isr)} hw={self.high_watermark} leo={self.log.log_end_offset})"
        )
