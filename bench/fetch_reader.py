"""Consume at the broker's speed, not the client's: a Kafka Fetch reader that never decodes a record.

A Python consumer built on librdkafka turns every record into a ``Message`` object, which caps it at a
few hundred thousand records a second here whatever the broker does — so its throughput says little
about how fast a broker serves its log, and nothing when set beside the raw limit (``raw_sink.py``
sending the same bytes with ``sendfile``). This reader does what a consumer's network layer does and
no more: one connection per partition leader (one thread each), Fetch v11 requests for every
partition that leader has, the response received into one reused buffer, and per partition only
the batch headers walked (base offset, last offset delta, record count) to know the next fetch
offset. Batches cut off at the end of a response are fetched again from their start, as clients do.
The topic is complete when it is read, so requests do not wait for data (``max_wait_ms`` 0): a
partition the producer never wrote to would otherwise hold its leader's first answer for the wait.

A secured listener is read the way librdkafka's settings for it say (``security``: ``security.protocol``,
``ssl.ca.location``, ``sasl.mechanism``, ``sasl.username``, ``sasl.password``): each connection does its TLS
handshake and its SASL exchange (PLAIN or SCRAM; SaslHandshake v1, SaslAuthenticate v2) before the first Fetch,
outside the measured time.

Used by ``bench/compare.py`` for the "fetch" rows of kopfka, Apache Kafka and the raw limit alike.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from confluent_kafka.admin import AdminClient

from kafka_broker.protocol import ApiKey, ErrorCode, decode_response, encode_request
from kafka_broker.security.plain import initial_response
from kafka_broker.security.scram import ScramClient

FETCH_VERSION = 11
SIZE = struct.Struct(">i")
MAX_BYTES = 64 << 20  # fetch.max.bytes, as the bench consumer sets it
PARTITION_MAX_BYTES = 8 << 20  # max.partition.fetch.bytes, likewise
BATCH_HEAD = struct.Struct(">qi")  # baseOffset, batchLength
LAST_OFFSET_DELTA = struct.Struct(">i")  # at byte 23 of a batch
RECORD_COUNT = struct.Struct(">i")  # at byte 57
BATCH_HEADER_BYTES = 61


@dataclass
class PartitionProgress:
    partition: int
    offset: int = 0
    records: int = 0
    high_watermark: int = -1

    @property
    def done(self) -> bool:
        return 0 <= self.high_watermark <= self.offset


def walk_batches(records: memoryview, progress: PartitionProgress) -> None:
    """Advance ``progress`` past every complete batch in ``records`` (a partial last one is left)."""
    position, end = 0, len(records)
    while end - position >= BATCH_HEADER_BYTES:
        base_offset, length = BATCH_HEAD.unpack_from(records, position)
        if position + 12 + length > end:
            break
        (delta,) = LAST_OFFSET_DELTA.unpack_from(records, position + 23)
        (count,) = RECORD_COUNT.unpack_from(records, position + 57)
        progress.records += count
        progress.offset = base_offset + delta + 1
        position += 12 + length


def connect(address: tuple[str, int], security: Mapping[str, object]) -> socket.socket:
    """A connection to a broker's listener, through TLS and SASL as librdkafka's ``security`` settings say."""
    protocol = str(security.get("security.protocol", "PLAINTEXT")).upper()
    sock = socket.create_connection(address, timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if protocol in ("SSL", "SASL_SSL"):
        ca = security.get("ssl.ca.location")
        context = ssl.create_default_context(cafile=str(ca) if ca else None)
        sock = context.wrap_socket(sock, server_hostname=address[0])
    if protocol.startswith("SASL"):
        _authenticate(sock, str(security.get("sasl.mechanism", "GSSAPI")), str(security["sasl.username"]),
                      str(security["sasl.password"]))
    return sock


def _call(sock: socket.socket, api: ApiKey, version: int, body: dict[str, object]) -> dict[str, object]:
    sock.sendall(encode_request(api, version, 0, "fetch-reader", body))
    head = memoryview(bytearray(4))
    _recv_into(sock, head)
    frame = memoryview(bytearray(SIZE.unpack(head)[0]))
    _recv_into(sock, frame)
    return decode_response(api, version, frame)[1]


def _authenticate(sock: socket.socket, mechanism: str, username: str, password: str) -> None:
    answer = _call(sock, ApiKey.SASL_HANDSHAKE, 1, {"mechanism": mechanism})
    if answer["error_code"] != ErrorCode.NONE:
        raise ConnectionError(f"SASL mechanism {mechanism} refused: {answer}")
    scram = None if mechanism == "PLAIN" else ScramClient(mechanism, username=username, password=password)
    token = initial_response(username=username, password=password) if scram is None else scram.first_message()
    while True:  # PLAIN: one round; SCRAM: client-first, then client-final (and the server's signature checked)
        answer = _call(sock, ApiKey.SASL_AUTHENTICATE, 2, {"auth_bytes": token})
        if answer["error_code"] != ErrorCode.NONE:
            raise ConnectionError(f"SASL authentication failed: {answer['error_message']}")
        if scram is None:
            return
        token = scram.evaluate(bytes(answer["auth_bytes"]))  # type: ignore[arg-type]
        if scram.complete:
            return


def _recv_into(sock: socket.socket, view: memoryview) -> None:
    got = 0
    while got < len(view):
        n = sock.recv_into(view[got:])
        if n == 0:
            raise ConnectionError("broker closed the connection")
        got += n


class LeaderReader(threading.Thread):
    """Fetches the partitions one broker leads up to their high watermarks (the topic is not being
    written to while it is read), from the beginning again on the same connection until ``min_seconds``
    have passed: a pass over a small topic takes milliseconds, too short a sample on its own."""

    def __init__(
        self, address: tuple[str, int], topic: str, partitions: list[int], *,
        max_bytes: int, partition_max_bytes: int, min_seconds: float, timeout: float,
        security: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.address, self.topic, self.timeout = address, topic, timeout
        self.security = dict(security or {})
        self.max_bytes, self.partition_max_bytes, self.min_seconds = max_bytes, partition_max_bytes, min_seconds
        self.partitions = partitions
        self.passes: list[int] = []
        """Records read in each pass over the partitions (every pass must read the same)."""
        self.started_at = 0.0
        self.done_at = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._read()
        except BaseException as exc:  # reported by read_topic
            self.error = exc

    def _read(self) -> None:
        self._buffer = bytearray(self.max_bytes + (1 << 20))
        self._head = memoryview(bytearray(4))
        deadline = time.monotonic() + self.timeout
        with connect(self.address, self.security) as sock:
            self._correlation_id = 0
            self.started_at = time.perf_counter()
            while not self.passes or time.perf_counter() - self.started_at < self.min_seconds:
                progress = [PartitionProgress(p) for p in self.partitions]
                while not all(p.done for p in progress):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"not at the end of {self.topic} after {self.timeout} s")
                    self._fetch(sock, [p for p in progress if not p.done])
                self.passes.append(sum(p.records for p in progress))
        self.done_at = time.perf_counter()

    def _fetch(self, sock: socket.socket, progress: list[PartitionProgress]) -> None:
        self._correlation_id += 1
        sock.sendall(encode_request(ApiKey.FETCH, FETCH_VERSION, self._correlation_id, "fetch-reader", {
            "replica_id": -1, "max_wait_ms": 0, "min_bytes": 1, "max_bytes": self.max_bytes,
            "isolation_level": 0, "session_id": 0, "session_epoch": -1, "rack_id": "",
            "forgotten_topics_data": [],
            "topics": [{"topic": self.topic, "partitions": [
                {"partition": p.partition, "current_leader_epoch": -1, "fetch_offset": p.offset,
                 "log_start_offset": -1, "partition_max_bytes": self.partition_max_bytes}
                for p in progress]}],
        }))
        _recv_into(sock, self._head)
        (size,) = SIZE.unpack(self._head)
        if size > len(self._buffer):
            self._buffer = bytearray(size)
        frame = memoryview(self._buffer)[:size]
        _recv_into(sock, frame)
        got_id, response = decode_response(ApiKey.FETCH, FETCH_VERSION, frame)
        if got_id != self._correlation_id:
            raise ConnectionError(f"correlation id {got_id} != {self._correlation_id}")
        by_partition = {p.partition: p for p in progress}
        for topic in response["responses"]:
            for part in topic["partitions"]:
                if part["error_code"]:
                    raise RuntimeError(f"fetch {self.topic}-{part['partition_index']}: error {part['error_code']}")
                state = by_partition[part["partition_index"]]
                state.high_watermark = part["high_watermark"]
                records = part["records"]
                if records is not None and len(records):
                    walk_batches(records, state)


def leaders(
    bootstrap: str, topic: str, security: Mapping[str, object] | None = None
) -> dict[tuple[str, int], list[int]]:
    """Partition indexes by the address of their leader (on the listener ``bootstrap`` names)."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3, **(security or {})})
    meta = admin.list_topics(topic, timeout=30)
    brokers = {b.id: (b.host, b.port) for b in meta.brokers.values()}
    out: dict[tuple[str, int], list[int]] = {}
    for index, partition in sorted(meta.topics[topic].partitions.items()):
        out.setdefault(brokers[partition.leader], []).append(index)
    return out


def read_topic(
    bootstrap: str,
    topic: str,
    *,
    records: int,
    max_bytes: int = MAX_BYTES,
    partition_max_bytes: int = PARTITION_MAX_BYTES,
    min_seconds: float = 2.0,
    timeout: float = 300,
    security: Mapping[str, object] | None = None,
) -> float:
    """Seconds per read of all of ``topic`` (``records`` records, checked) from the beginning: every
    leader's partitions are read over one connection each, again and again for ``min_seconds``, and
    the wall time from the first request to the last answer is divided by the passes made. Connecting
    (TLS handshake and SASL included) and the metadata lookup are not the broker's throughput and are not
    counted."""
    readers = [
        LeaderReader(address, topic, partitions, max_bytes=max_bytes, partition_max_bytes=partition_max_bytes,
                     min_seconds=min_seconds, timeout=timeout, security=security)
        for address, partitions in leaders(bootstrap, topic, security).items()
    ]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    errors = [r.error for r in readers if r.error is not None]
    if errors:
        raise RuntimeError(f"fetch reader failed: {errors[0]!r}") from errors[0]
    first = sum(r.passes[0] for r in readers)
    if first != records or any(len(set(r.passes)) != 1 for r in readers):
        raise RuntimeError(f"fetch reader read {[r.passes for r in readers]} records of {topic}, expected {records}")
    read = sum(sum(r.passes) for r in readers)
    wall = max(r.done_at for r in readers) - min(r.started_at for r in readers)
    return wall * records / read
