"""The fetch path is zero-copy: a response's log slice reaches the socket through sendfile, after the
bytes that precede it, on both the stdlib event loop and uvloop — and the client reads exactly the file."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from types import SimpleNamespace

import pytest
import uvloop

from kafka_broker import server
from kafka_broker.handlers import Route
from kafka_broker.protocol import ApiKey, FileSlice, decode_response, encode_request

LOG = bytes(range(256)) * 4096  # 1 MiB "log segment"


def _fetch_body(records: FileSlice) -> dict:
    return {"throttle_time_ms": 0, "error_code": 0, "session_id": 0, "responses": [
        {"topic": "t", "partitions": [{"partition_index": 0, "error_code": 0, "high_watermark": 9,
                                       "last_stable_offset": 9, "log_start_offset": 0, "records": records}]}]}


def _request() -> bytes:
    return encode_request(ApiKey.FETCH, 12, 7, "test", {
        "replica_id": -1, "max_wait_ms": 0, "min_bytes": 1, "max_bytes": 1 << 30, "isolation_level": 0,
        "session_id": 0, "session_epoch": -1, "forgotten_topics_data": [], "rack_id": "",
        "topics": [{"topic": "t", "partitions": [{"partition": 0, "current_leader_epoch": -1, "fetch_offset": 0,
                                                  "last_fetched_epoch": -1, "log_start_offset": -1,
                                                  "partition_max_bytes": 1 << 30}]}]})


def _read_frame(sock: socket.socket) -> bytes:
    def exactly(n: int) -> bytes:
        chunks = []
        while n:
            chunk = sock.recv(min(n, 1 << 20))
            assert chunk, "connection closed"
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    return exactly(struct.unpack(">i", exactly(4))[0])


@pytest.mark.parametrize("send_buffer", [-1, 102_400], ids=["autotuned", "100KB-send-buffer"])
@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"])
def test_fetch_slice_goes_through_sendfile(tmp_path, monkeypatch, loop_factory, send_buffer) -> None:
    path = tmp_path / "segment.log"
    path.write_bytes(LOG)
    fd = os.open(path, os.O_RDONLY)
    offset, length = 1000, len(LOG) - 5000

    async def handle(_request, _ctx):
        return _fetch_body(FileSlice(fd, offset, length))

    monkeypatch.setitem(server.HANDLERS, int(ApiKey.FETCH), Route(int(ApiKey.FETCH), 4, 12, handle))
    sent: list[int] = []
    real_sendfile = os.sendfile

    def spy(out_fd: int, in_fd: int, pos: int, count: int) -> int:
        n = real_sendfile(out_fd, in_fd, pos, count)
        if in_fd == fd:
            sent.append(n)
        return n

    monkeypatch.setattr(os, "sendfile", spy)
    services = SimpleNamespace(config=SimpleNamespace(
        socket_request_max_bytes=1 << 20, queued_max_requests=10, socket_send_buffer_bytes=send_buffer,
        socket_receive_buffer_bytes=-1))
    loop = loop_factory()
    try:
        srv = loop.run_until_complete(loop.create_server(lambda: server.KafkaConnection(services), "127.0.0.1", 0))
        port = srv.sockets[0].getsockname()[1]

        def client() -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(_request() + _request())  # pipelined: answered in order
                return _read_frame(sock) + b"|" + _read_frame(sock)

        frames = loop.run_until_complete(loop.run_in_executor(None, client))
        srv.close()
        loop.run_until_complete(srv.wait_closed())
    finally:
        loop.close()
        os.close(fd)
    for frame in _split(frames):
        correlation_id, body = decode_response(ApiKey.FETCH, 12, frame)
        assert correlation_id == 7
        records = body["responses"][0]["partitions"][0]["records"]
        assert bytes(records) == LOG[offset: offset + length]
    assert sum(sent) > 0, "the slice never went through sendfile"


def _split(frames: bytes) -> list[bytes]:
    # both frames have the same length, so the separator sits exactly in the middle
    half = (len(frames) - 1) // 2
    assert frames[half: half + 1] == b"|"
    return [frames[:half], frames[half + 1:]]
