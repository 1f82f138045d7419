"""The records of ``__consumer_offsets`` in Kafka's own binary schemas, so Kafka's tools can read them.

Every record's key and value start with an int16 schema version; strings are int16-length UTF-8
(-1 = null), bytes int32-length, arrays an int32 count — the classic (non-flexible) encoding::

    offset commit key   v1: version=1, group string, topic string, partition int32
    offset commit value v3: version=3, offset int64, leader_epoch int32, metadata string,
                            commit_timestamp int64
    group metadata key  v2: version=2, group string
    group metadata value v3: version=3, protocol_type string, generation int32, protocol string?,
                            leader string?, current_state_timestamp int64,
                            members [member_id string, group_instance_id string?, client_id string,
                                     client_host string, rebalance_timeout int32, session_timeout int32,
                                     subscription bytes, assignment bytes]

A null value is a tombstone: the offset (or the group) was deleted. Readers accept the older
versions Kafka wrote (offset value v0-v3, group value v0-v3) and skip key versions they do not know
(Kafka's transaction and future record types).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")

OFFSET_KEY_VERSION = 1
OFFSET_VALUE_VERSION = 3
GROUP_KEY_VERSION = 2
GROUP_VALUE_VERSION = 3


class FormatError(ValueError):
    """Bytes that are not a record of ``__consumer_offsets``."""


@dataclass(frozen=True, slots=True)
class OffsetKey:
    group: str
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class GroupKey:
    group: str


@dataclass(frozen=True, slots=True)
class OffsetValue:
    offset: int
    leader_epoch: int = -1
    metadata: str = ""
    commit_timestamp: int = -1
    expire_timestamp: int = -1
    """Only in value v1 (written by old brokers); -1 otherwise."""


@dataclass(frozen=True, slots=True)
class MemberValue:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    subscription: bytes
    assignment: bytes


@dataclass(frozen=True, slots=True)
class GroupValue:
    protocol_type: str
    generation: int
    protocol: str | None
    leader: str | None
    current_state_timestamp: int = -1
    members: tuple[MemberValue, ...] = field(default_factory=tuple)


# --- writing ------------------------------------------------------------------------------------


def _string(out: bytearray, value: str | None) -> None:
    if value is None:
        out += _I16.pack(-1)
        return
    data = value.encode("utf-8")
    out += _I16.pack(len(data))
    out += data


def _bytes(out: bytearray, value: bytes) -> None:
    out += _I32.pack(len(value))
    out += value


def encode_offset_key(key: OffsetKey) -> bytes:
    out = bytearray(_I16.pack(OFFSET_KEY_VERSION))
    _string(out, key.group)
    _string(out, key.topic)
    out += _I32.pack(key.partition)
    return bytes(out)


def encode_offset_value(value: OffsetValue) -> bytes:
    out = bytearray(_I16.pack(OFFSET_VALUE_VERSION))
    out += _I64.pack(value.offset)
    out += _I32.pack(value.leader_epoch)
    _string(out, value.metadata)
    out += _I64.pack(value.commit_timestamp)
    return bytes(out)


def encode_group_key(key: GroupKey) -> bytes:
    out = bytearray(_I16.pack(GROUP_KEY_VERSION))
    _string(out, key.group)
    return bytes(out)


def encode_group_value(value: GroupValue) -> bytes:
    out = bytearray(_I16.pack(GROUP_VALUE_VERSION))
    _string(out, value.protocol_type)
    out += _I32.pack(value.generation)
    _string(out, value.protocol)
    _string(out, value.leader)
    out += _I64.pack(value.current_state_timestamp)
    out += _I32.pack(len(value.members))
    for m in value.members:
        _string(out, m.member_id)
        _string(out, m.group_instance_id)
        _string(out, m.client_id)
        _string(out, m.client_host)
        out += _I32.pack(m.rebalance_timeout_ms)
        out += _I32.pack(m.session_timeout_ms)
        _bytes(out, m.subscription)
        _bytes(out, m.assignment)
    return bytes(out)


# --- reading ------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise FormatError("record shorter than its schema")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def i16(self) -> int:
        value: int = _I16.unpack(self._take(2))[0]
        return value

    def i32(self) -> int:
        value: int = _I32.unpack(self._take(4))[0]
        return value

    def i64(self) -> int:
        value: int = _I64.unpack(self._take(8))[0]
        return value

    def string(self) -> str | None:
        size = self.i16()
        return None if size < 0 else self._take(size).decode("utf-8", "replace")

    def required_string(self) -> str:
        value = self.string()
        if value is None:
            raise FormatError("null where a string is required")
        return value

    def bytes_(self) -> bytes:
        size = self.i32()
        return b"" if size < 0 else self._take(size)


def decode_key(data: bytes) -> OffsetKey | GroupKey | None:
    """The key of a record; None for record types the group coordinator does not own."""
    reader = _Reader(data)
    version = reader.i16()
    if version in (0, 1):
        return OffsetKey(reader.required_string(), reader.required_string(), reader.i32())
    if version == 2:
        return GroupKey(reader.required_string())
    return None


def decode_offset_value(data: bytes) -> OffsetValue:
    reader = _Reader(data)
    version = reader.i16()
    if not 0 <= version <= 4:
        raise FormatError(f"unknown offset commit value version {version}")
    offset = reader.i64()
    leader_epoch = reader.i32() if version >= 3 else -1
    metadata = reader.string() or ""
    commit_timestamp = reader.i64()
    expire_timestamp = reader.i64() if version == 1 else -1
    return OffsetValue(offset, leader_epoch, metadata, commit_timestamp, expire_timestamp)


def decode_group_value(data: bytes) -> GroupValue:
    reader = _Reader(data)
    version = reader.i16()
    if not 0 <= version <= 3:
        raise FormatError(f"unknown group metadata value version {version}")
    protocol_type = reader.required_string()
    generation = reader.i32()
    protocol = reader.string()
    leader = reader.string()
    state_timestamp = reader.i64() if version >= 2 else -1
    members = []
    for _ in range(reader.i32()):
        member_id = reader.required_string()
        instance_id = reader.string() if version >= 3 else None
        client_id = reader.required_string()
        client_host = reader.required_string()
        session_timeout = reader.i32() if version == 0 else None
        rebalance_timeout = reader.i32() if version >= 1 else -1
        if session_timeout is None:
            session_timeout = reader.i32()
        if version == 0:
            rebalance_timeout = session_timeout
        members.append(MemberValue(member_id, instance_id, client_id, client_host, rebalance_timeout,
                                   session_timeout, reader.bytes_(), reader.bytes_()))
    return GroupValue(protocol_type, generation, protocol, leader, state_timestamp, tuple(members))
