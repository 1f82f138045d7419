"""One consumer group's membership: the state machine of Kafka's classic group protocol.

States and transitions (Kafka's ``GroupMetadata``)::

    Empty ──join──▶ PreparingRebalance ──all joined / rebalance timeout──▶ CompletingRebalance
      ▲                  ▲      │ (no member left)                           │ leader's SyncGroup
      │                  │      ▼                                            ▼ stored
      └──────────── Empty       │◀── member joins, leaves, expires, changes ── Stable
    Dead: the group was deleted or moved to another coordinator; every request is answered with a retriable error.

*Join phase.* A rebalance starts when a member joins, leaves, expires or changes its protocols.
Every known member must send JoinGroup again within the rebalance timeout (the largest of the
members'); the phase ends when all have (and no member id handed out with MEMBER_ID_REQUIRED is
still outstanding) or when the timeout passes, and members that did not rejoin are removed. A group
that starts from Empty waits ``group.initial.rebalance.delay.ms`` first, extended by each new member
up to the rebalance timeout, so a starting fleet of consumers lands in one generation. Completing
bumps the generation, selects the protocol (every member votes for its most preferred protocol
among those all members support) and keeps the leader if it stayed, else takes the first member; the
leader's JoinGroup answer lists every member's metadata, the others get an empty list.

*Sync phase.* Followers wait; the leader's SyncGroup carries the assignments, which the coordinator
stores in ``__consumer_offsets`` before the group turns Stable and everyone gets their share.
Members that have not sent SyncGroup within the rebalance timeout are removed (a new rebalance).

*Liveness.* Every request of a member pushes its session deadline forward by its session
timeout; a member past its deadline is removed, except while the coordinator holds its JoinGroup or
SyncGroup (the phase timeouts govern those).

*Static members* (``group.instance.id``) are found by their instance id: a restarted static member
that rejoins with an empty member id takes the place of its old member id (which is fenced,
FENCED_INSTANCE_ID) without a rebalance while the group is Stable and its protocols are unchanged.

This module does no I/O: the coordinator calls it on the event loop, stores what it must, and
answers requests through the futures members wait on.
"""

from __future__ import annotations

import asyncio
import enum
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kafka_broker.protocol.errors import ErrorCode
from kafka_broker.protocol.primitives import AUTHORIZED_OPERATIONS_OMITTED


class GroupState(enum.StrEnum):
    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


@dataclass(slots=True)
class JoinResult:
    error: int
    member_id: str = ""
    generation_id: int = -1
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader: str = ""
    members: list[tuple[str, str | None, bytes]] = field(default_factory=list)
    """(member id, group instance id, metadata) — the leader's answer only."""
    skip_assignment: bool = False


@dataclass(slots=True)
class SyncResult:
    error: int
    assignment: bytes = b""
    protocol_type: str | None = None
    protocol_name: str | None = None


@dataclass(slots=True)
class CommittedOffset:
    offset: int
    leader_epoch: int = -1
    metadata: str = ""
    commit_timestamp: int = -1


@dataclass(slots=True, eq=False)
class Member:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]
    """(name, metadata) in the member's order of preference."""
    assignment: bytes = b""
    deadline_ms: int = 0
    """Session expiry: the member is removed when it passes (unless awaiting join or sync)."""
    join_future: asyncio.Future[JoinResult] | None = None
    sync_future: asyncio.Future[SyncResult] | None = None
    synced: bool = True
    """False from the end of a join phase until the member's SyncGroup."""

    def metadata_for(self, protocol: str | None) -> bytes:
        for name, metadata in self.protocols:
            if name == protocol:
                return metadata
        return b""

    def protocol_names(self) -> list[str]:
        return [name for name, _ in self.protocols]

    def heartbeat(self, now_ms: int) -> None:
        self.deadline_ms = now_ms + self.session_timeout_ms

    def complete_join(self, result: JoinResult) -> None:
        future, self.join_future = self.join_future, None
        if future is not None and not future.done():
            future.set_result(result)

    def complete_sync(self, result: SyncResult) -> None:
        future, self.sync_future = self.sync_future, None
        if future is not None and not future.done():
            future.set_result(result)


class Group:
    """The membership, generation and committed offsets of one group (see the module docstring)."""

    def __init__(self, group_id: str, *, partition: int, initial_delay_ms: int = 0, now_ms: int = 0) -> None:
        self.group_id = group_id
        self.partition = partition
        """The ``__consumer_offsets`` partition holding this group."""
        self.initial_delay_ms = initial_delay_ms
        self.state = GroupState.EMPTY
        self.state_timestamp = now_ms
        self.generation_id = 0
        self.protocol_type: str | None = None
        self.protocol_name: str | None = None
        self.leader_id: str | None = None
        self.members: dict[str, Member] = {}
        self.static_members: dict[str, str] = {}
        """group.instance.id → member id."""
        self.pending_members: dict[str, int] = {}
        """Member ids handed out with MEMBER_ID_REQUIRED → the deadline for their JoinGroup."""
        self.offsets: dict[tuple[str, int], CommittedOffset] = {}
        self.join_not_before_ms = 0
        self.join_delay_cap_ms = 0
        self.rebalance_deadline_ms = 0
        self.sync_deadline_ms = 0

    # --- queries --------------------------------------------------------------------------------

    def is_in(self, *states: GroupState) -> bool:
        return self.state in states

    @property
    def max_rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def member_for_instance(self, instance_id: str) -> Member | None:
        member_id = self.static_members.get(instance_id)
        return None if member_id is None else self.members.get(member_id)

    def supports_protocols(self, protocol_type: str, names: list[str]) -> bool:
        if not self.members:
            return bool(protocol_type) and bool(names)
        counts = Counter(name for m in self.members.values() for name in set(m.protocol_names()))
        return protocol_type == self.protocol_type and any(counts[n] == len(self.members) for n in names)

    def select_protocol(self) -> str:
        """Each member votes for its most preferred protocol among those every member supports."""
        members = list(self.members.values())
        candidates = set(members[0].protocol_names())
        for member in members[1:]:
            candidates &= set(member.protocol_names())
        if not candidates:
            raise ValueError(f"no protocol common to the members of group {self.group_id}")
        order = [n for n in members[0].protocol_names() if n in candidates]
        votes = Counter(next(n for n in m.protocol_names() if n in candidates) for m in members)
        return max(order, key=lambda n: (votes[n], -order.index(n)))

    def subscribed_topics(self) -> set[str] | None:
        """Topics the members subscribe to (consumer protocol); None when not a consumer group."""
        if self.protocol_type != "consumer" or self.protocol_name is None:
            return None
        topics: set[str] = set()
        for member in self.members.values():
            parsed = consumer_subscription_topics(member.metadata_for(self.protocol_name))
            if parsed is None:
                return None
            topics.update(parsed)
        return topics

    # --- membership -----------------------------------------------------------------------------

    def transition(self, state: GroupState, now_ms: int) -> None:
        self.state = state
        self.state_timestamp = now_ms

    def add(self, member: Member, now_ms: int) -> None:
        if not self.members:
            self.protocol_type = member.protocol_type
        if self.leader_id is None:
            self.leader_id = member.member_id
        self.members[member.member_id] = member
        if member.group_instance_id is not None:
            self.static_members[member.group_instance_id] = member.member_id
        self.pending_members.pop(member.member_id, None)
        member.heartbeat(now_ms)

    def remove(self, member_id: str) -> Member | None:
        member = self.members.pop(member_id, None)
        if member is None:
            return None
        if member.group_instance_id is not None and self.static_members.get(member.group_instance_id) == member_id:
            del self.static_members[member.group_instance_id]
        if self.leader_id == member_id:
            self.leader_id = next(iter(self.members), None)
        member.complete_join(JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id))
        member.complete_sync(SyncResult(ErrorCode.UNKNOWN_MEMBER_ID))
        return member

    def replace_static_member(self, instance_id: str, new_member_id: str) -> Member:
        """A restarted static member takes over its old member id's place; the old id is fenced."""
        old = self.member_for_instance(instance_id)
        assert old is not None
        old.complete_join(JoinResult(ErrorCode.FENCED_INSTANCE_ID, old.member_id))
        old.complete_sync(SyncResult(ErrorCode.FENCED_INSTANCE_ID))
        del self.members[old.member_id]
        if self.leader_id == old.member_id:
            self.leader_id = new_member_id
        old.member_id = new_member_id
        self.members[new_member_id] = old
        self.static_members[instance_id] = new_member_id
        return old

    def all_joined(self) -> bool:
        return not self.pending_members and all(m.join_future is not None for m in self.members.values())

    # --- rebalancing ------------------------------------------------------------------------------

    def prepare_rebalance(self, now_ms: int) -> None:
        """Start a join phase (from Empty, Stable or CompletingRebalance)."""
        if self.state == GroupState.COMPLETING_REBALANCE:
            for member in self.members.values():
                member.complete_sync(SyncResult(ErrorCode.REBALANCE_IN_PROGRESS))
        timeout = self.max_rebalance_timeout_ms
        if self.state == GroupState.EMPTY:
            self.join_not_before_ms = now_ms + self.initial_delay_ms
            self.join_delay_cap_ms = now_ms + max(timeout, self.initial_delay_ms)
        else:
            self.join_not_before_ms = 0
        self.rebalance_deadline_ms = now_ms + timeout
        self.transition(GroupState.PREPARING_REBALANCE, now_ms)

    def maybe_prepare_rebalance(self, now_ms: int) -> None:
        if self.state in (GroupState.EMPTY, GroupState.STABLE, GroupState.COMPLETING_REBALANCE):
            self.prepare_rebalance(now_ms)

    def new_member_during_initial_delay(self, now_ms: int) -> None:
        """Another member arrived while the first join phase waits: wait a little longer (capped)."""
        if self.join_not_before_ms > now_ms:
            self.join_not_before_ms = min(now_ms + self.initial_delay_ms, self.join_delay_cap_ms)

    def join_due(self, now_ms: int) -> bool:
        if self.state != GroupState.PREPARING_REBALANCE:
            return False
        if now_ms >= self.rebalance_deadline_ms and now_ms >= self.join_not_before_ms:
            return True
        return self.all_joined() and now_ms >= self.join_not_before_ms

    def complete_join(self, now_ms: int) -> bool:
        """End the join phase; returns True when the group became Empty (its metadata must be stored)."""
        for member in [m for m in self.members.values() if m.join_future is None]:
            self.remove(member.member_id)
        self.generation_id += 1
        if not self.members:
            self.protocol_name = None
            self.leader_id = None
            self.transition(GroupState.EMPTY, now_ms)
            return True
        self.protocol_name = self.select_protocol()
        if self.leader_id not in self.members:
            self.leader_id = next(iter(self.members))
        self.sync_deadline_ms = now_ms + self.max_rebalance_timeout_ms
        self.transition(GroupState.COMPLETING_REBALANCE, now_ms)
        everyone = [(m.member_id, m.group_instance_id, m.metadata_for(self.protocol_name))
                    for m in self.members.values()]
        for member in self.members.values():
            member.synced = False
            member.assignment = b""
            member.heartbeat(now_ms)
            member.complete_join(self.join_result(member.member_id, everyone if member.member_id == self.leader_id
                                                  else []))
        return False

    def join_result(self, member_id: str, members: list[tuple[str, str | None, bytes]]) -> JoinResult:
        return JoinResult(ErrorCode.NONE, member_id, self.generation_id, self.protocol_type, self.protocol_name,
                          self.leader_id or "", members)

    def complete_sync(self, assignments: dict[str, bytes], now_ms: int) -> None:
        """The leader's assignments are stored: hand them out and become Stable."""
        for member in self.members.values():
            member.assignment = assignments.get(member.member_id, b"")
        self.transition(GroupState.STABLE, now_ms)
        for member in self.members.values():
            if member.sync_future is not None:
                member.synced = True
                member.heartbeat(now_ms)
                member.complete_sync(SyncResult(ErrorCode.NONE, member.assignment, self.protocol_type,
                                                self.protocol_name))

    # --- timers -------------------------------------------------------------------------------------

    def expired_members(self, now_ms: int) -> list[Member]:
        return [m for m in self.members.values()
                if m.deadline_ms <= now_ms and m.join_future is None and m.sync_future is None]

    def unsynced_members(self, now_ms: int) -> list[Member]:
        """Members that did not send SyncGroup within the rebalance timeout after the join phase."""
        if self.state not in (GroupState.COMPLETING_REBALANCE, GroupState.STABLE) or now_ms < self.sync_deadline_ms:
            return []
        return [m for m in self.members.values() if not m.synced and m.sync_future is None]

    def expire_pending(self, now_ms: int) -> bool:
        expired = [mid for mid, deadline in self.pending_members.items() if deadline <= now_ms]
        for mid in expired:
            del self.pending_members[mid]
        return bool(expired)

    # --- views ----------------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """DescribeGroups' view: member metadata and assignments only when Stable (as Kafka)."""
        stable = self.state == GroupState.STABLE
        return {
            "error_code": ErrorCode.NONE,
            "group_id": self.group_id,
            "group_state": str(self.state),
            "protocol_type": self.protocol_type or "",
            "protocol_data": (self.protocol_name or "") if stable else "",
            "authorized_operations": AUTHORIZED_OPERATIONS_OMITTED,
            "members": [
                {
                    "member_id": m.member_id,
                    "group_instance_id": m.group_instance_id,
                    "client_id": m.client_id,
                    "client_host": m.client_host,
                    "member_metadata": m.metadata_for(self.protocol_name) if stable else b"",
                    "member_assignment": m.assignment if stable else b"",
                }
                for m in self.members.values()
            ],
        }


def dead_group_description(group_id: str, error: int) -> dict[str, Any]:
    """DescribeGroups' view of a group that does not exist here (or an error answer): Dead, no members."""
    return {"error_code": error, "group_id": group_id, "group_state": str(GroupState.DEAD) if not error else "",
            "protocol_type": "", "protocol_data": "", "authorized_operations": AUTHORIZED_OPERATIONS_OMITTED,
            "members": []}


def consumer_subscription_topics(metadata: bytes) -> list[str] | None:
    """Topics of a consumer protocol Subscription (int16 version, [string] topics, …); None if unreadable."""
    try:
        pos = 2
        count = int.from_bytes(metadata[pos : pos + 4], "big", signed=True)
        pos += 4
        topics = []
        for _ in range(max(count, 0)):
            size = int.from_bytes(metadata[pos : pos + 2], "big", signed=True)
            pos += 2
            if size < 0 or pos + size > len(metadata):
                return None
            topics.append(bytes(metadata[pos : pos + size]).decode("utf-8", "replace"))
            pos += size
        return topics
    except (IndexError, ValueError):
        return None
