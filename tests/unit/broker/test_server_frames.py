"""Framing: large frames (read straight into their own buffer) and small ones, split across reads
at every awkward place and pipelined, reach the handler intact and are answered in order."""

from __future__ import annotations

import asyncio
import socket
import struct
from types import SimpleNamespace

import pytest
import uvloop

from kafka_broker import server
from kafka_broker.handlers import Route
from kafka_broker.protocol import ApiKey, decode_response, encode_request


def produce(correlation_id: int, payload: bytes) -> bytes:
    return encode_request(ApiKey.PRODUCE, 9, correlation_id, "t", {
        "transactional_id": None, "acks": 1, "timeout_ms": 1000,
        "topic_data": [{"name": "t", "partition_data": [{"index": 0, "records": payload}]}]})


@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"])
def test_large_and_small_frames_pipelined_in_pieces(monkeypatch, loop_factory) -> None:
    seen: list[bytes] = []

    async def handle(request, _ctx):
        records = request["topic_data"][0]["partition_data"][0]["records"]
        seen.append(bytes(records))
        await asyncio.sleep(0.01 if len(records) < 100 else 0)  # small ones finish later: order must hold
        return {"responses": [{"name": "t", "partition_responses": [
            {"index": 0, "error_code": 0, "base_offset": len(records), "log_append_time_ms": -1,
             "log_start_offset": 0}]}], "throttle_time_ms": 0}

    monkeypatch.setitem(server.HANDLERS, int(ApiKey.PRODUCE), Route(int(ApiKey.PRODUCE), 3, 9, handle))
    services = SimpleNamespace(config=SimpleNamespace(
        socket_request_max_bytes=8 << 20, queued_max_requests=100, socket_send_buffer_bytes=-1,
        socket_receive_buffer_bytes=65_536))
    sizes = [10, 300_000, 20, 2_000_000, 65_536, 7, 1_048_576]
    payloads = [bytes([i % 251]) * n for i, n in enumerate(sizes)]
    stream = b"".join(produce(i + 1, p) for i, p in enumerate(payloads))
    loop = loop_factory()
    try:
        srv = loop.run_until_complete(loop.create_server(lambda: server.KafkaConnection(services), "127.0.0.1", 0))
        port = srv.sockets[0].getsockname()[1]

        def client() -> list[tuple[int, int]]:
            answers = []
            with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
                for start in range(0, len(stream), 7_777):  # cut through sizes, headers and bodies
                    sock.sendall(stream[start:start + 7_777])
                for _ in sizes:
                    size = struct.unpack(">i", _exactly(sock, 4))[0]
                    correlation_id, body = decode_response(ApiKey.PRODUCE, 9, _exactly(sock, size))
                    answers.append((correlation_id, body["responses"][0]["partition_responses"][0]["base_offset"]))
            return answers

        answers = loop.run_until_complete(loop.run_in_executor(None, client))
        srv.close()
        loop.run_until_complete(srv.wait_closed())
    finally:
        loop.close()
    assert answers == [(i + 1, n) for i, n in enumerate(sizes)]
    assert seen == payloads


def _exactly(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(n)
        assert chunk
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)
