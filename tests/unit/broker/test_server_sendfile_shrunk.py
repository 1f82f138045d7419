"""A fetch response's log slice goes out whole or not at all: when the segment shrank under the slice
(truncation, retention) after the response's size prefix was written, the connection is aborted —
a short frame would put every later response out of step with the client's framing."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from types import SimpleNamespace
from typing import Any

import pytest
import uvloop

from kafka_broker import server
from kafka_broker.handlers import Route
from kafka_broker.protocol import ApiKey, FileSlice, encode_request

LOG = bytes(range(256)) * 4096  # 1 MiB "log segment"
SERVICES = SimpleNamespace(config=SimpleNamespace(
    socket_request_max_bytes=1 << 20, queued_max_requests=10, socket_send_buffer_bytes=-1,
    socket_receive_buffer_bytes=-1))


def _fetch_body(records: FileSlice) -> dict[str, Any]:
    return {"throttle_time_ms": 0, "error_code": 0, "session_id": 0, "responses": [
        {"topic": "t", "partitions": [{"partition_index": 0, "error_code": 0, "high_watermark": 9,
                                       "last_stable_offset": 9, "log_start_offset": 0, "records": records}]}]}


def _request(correlation_id: int) -> bytes:
    return encode_request(ApiKey.FETCH, 12, correlation_id, "test", {
        "replica_id": -1, "max_wait_ms": 0, "min_bytes": 1, "max_bytes": 1 << 30, "isolation_level": 0,
        "session_id": 0, "session_epoch": -1, "forgotten_topics_data": [], "rack_id": "",
        "topics": [{"topic": "t", "partitions": [{"partition": 0, "current_leader_epoch": -1, "fetch_offset": 0,
                                                  "last_fetched_epoch": -1, "log_start_offset": -1,
                                                  "partition_max_bytes": 1 << 30}]}]})


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a timeout fails the test)."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            break
        except TimeoutError:
            pytest.fail(f"the connection stayed open after {sum(map(len, chunks))} bytes")
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"])
def test_a_slice_over_a_shrunk_file_aborts_the_connection(tmp_path, monkeypatch, loop_factory) -> None:
    path = tmp_path / "segment.log"
    path.write_bytes(LOG)
    fd = os.open(path, os.O_RDWR)
    calls = 0

    async def handle(_request, _ctx):
        nonlocal calls
        calls += 1
        if calls == 1:
            # The fetch read the log; then retention or a truncation shrinks the segment under the slice.
            records = FileSlice(fd, 1000, len(LOG) - 2000)
            os.ftruncate(fd, len(LOG) // 2)
            return _fetch_body(records)
        return _fetch_body(FileSlice(fd, 0, 100))  # the next response must never reach the client

    monkeypatch.setitem(server.HANDLERS, int(ApiKey.FETCH), Route(int(ApiKey.FETCH), 4, 12, handle))
    loop = loop_factory()
    try:
        srv = loop.run_until_complete(loop.create_server(lambda: server.KafkaConnection(SERVICES), "127.0.0.1", 0))
        port = srv.sockets[0].getsockname()[1]

        def client() -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(_request(1) + _request(2))
                return _read_until_closed(sock)

        received = loop.run_until_complete(loop.run_in_executor(None, client))
        srv.close()
        loop.run_until_complete(srv.wait_closed())
    finally:
        loop.close()
        os.close(fd)
    assert len(received) >= 4, "not even the first frame's size prefix arrived"
    (size,) = struct.unpack(">i", received[:4])
    assert len(received) < 4 + size, "a frame of the announced size arrived: short slice plus the next response"


class _FakeTransport(asyncio.WriteTransport):
    """A transport whose buffer still holds bytes, so the slice takes the read-and-write path."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.aborted = False

    def get_write_buffer_size(self) -> int:
        return 1

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.aborted


@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"])
@pytest.mark.parametrize("shrunk", [False, True], ids=["whole", "shrunk"])
def test_the_read_and_write_path_sends_whole_slices_only(tmp_path, loop_factory, shrunk) -> None:
    path = tmp_path / "segment.log"
    path.write_bytes(LOG)
    fd = os.open(path, os.O_RDWR)
    transport = _FakeTransport()
    connection = server.KafkaConnection(SERVICES)
    connection.transport = transport
    records = FileSlice(fd, 1000, 50_000)
    if shrunk:
        os.ftruncate(fd, 20_000)
    loop = loop_factory()
    try:
        loop.run_until_complete(connection._send_file(records))
    finally:
        loop.close()
        os.close(fd)
    if shrunk:
        assert transport.aborted
        assert transport.written == []
    else:
        assert not transport.aborted
        assert transport.written == [LOG[1000:51_000]]


def test_the_read_and_write_fallback_reads_at_its_own_position(tmp_path) -> None:
    """``loop.sendfile`` falls back to seek + readinto for transports that cannot sendfile (TLS): the
    segment's descriptor is shared by every reader, so the file object must neither use nor move its offset."""
    path = tmp_path / "segment.log"
    path.write_bytes(LOG)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.lseek(fd, 7, os.SEEK_SET)  # another reader's position
        file = server._FdFile(fd)
        assert file.seek(1000) == 1000
        buffer = bytearray(300)
        assert file.readinto(memoryview(buffer)) == 300 and bytes(buffer) == LOG[1000:1300]
        assert file.readinto(memoryview(buffer)) == 300 and bytes(buffer) == LOG[1300:1600]
        assert file.seek(-10, os.SEEK_END) == len(LOG) - 10
        assert file.readinto(memoryview(buffer)) == 10 and bytes(buffer[:10]) == LOG[-10:]
        assert os.lseek(fd, 0, os.SEEK_CUR) == 7
    finally:
        os.close(fd)


def test_loop_sendfile_fallback_sends_the_slice(tmp_path) -> None:
    path = tmp_path / "segment.log"
    path.write_bytes(LOG)
    fd = os.open(path, os.O_RDONLY)
    left, right = socket.socketpair()
    right.settimeout(30)

    async def send() -> int:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_connection(asyncio.Protocol, sock=left)
        sent = await loop._sendfile_fallback(transport, server._FdFile(fd), 4096, 100_000)  # type: ignore[attr-defined]
        transport.close()
        return sent

    try:
        loop = asyncio.new_event_loop()
        try:
            assert loop.run_until_complete(send()) == 100_000
        finally:
            loop.close()
        assert _read_until_closed(right) == LOG[4096:104_096]
    finally:
        os.close(fd)
        right.close()
