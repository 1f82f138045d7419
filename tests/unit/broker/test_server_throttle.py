"""KIP-219: a request that took its client over a quota (the handler set ``ctx.throttle_time_ms``) has its
response sent at once, and then the connection is muted: no later request of it starts until the throttle
time has passed."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from types import SimpleNamespace

import pytest
import uvloop

from kafka_broker import server
from kafka_broker.handlers import Route
from kafka_broker.protocol import ApiKey, decode_response, encode_request

THROTTLE_MS = 400


def produce(correlation_id: int) -> bytes:
    return encode_request(ApiKey.PRODUCE, 9, correlation_id, "t", {
        "transactional_id": None, "acks": 1, "timeout_ms": 1000,
        "topic_data": [{"name": "t", "partition_data": [{"index": 0, "records": b"x"}]}]})


def _read_frame(sock: socket.socket) -> bytes:
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            assert chunk, "the connection closed"
            data += chunk
        return data

    (size,) = struct.unpack(">i", exactly(4))
    return exactly(size)


@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"])
def test_a_throttled_client_is_answered_then_muted(monkeypatch, loop_factory) -> None:
    started: dict[int, float] = {}

    async def handle(_request, ctx):
        correlation_id = ctx.header.correlation_id
        started[correlation_id] = time.monotonic()
        if correlation_id == 1:
            ctx.throttle_time_ms = THROTTLE_MS
        return {"responses": [], "throttle_time_ms": ctx.throttle_time_ms}

    monkeypatch.setitem(server.HANDLERS, int(ApiKey.PRODUCE), Route(int(ApiKey.PRODUCE), 3, 9, handle))
    services = SimpleNamespace(config=SimpleNamespace(
        socket_request_max_bytes=1 << 20, queued_max_requests=100, socket_send_buffer_bytes=-1,
        socket_receive_buffer_bytes=-1))
    loop = loop_factory()
    try:
        srv = loop.run_until_complete(loop.create_server(lambda: server.KafkaConnection(services), "127.0.0.1", 0))
        port = srv.sockets[0].getsockname()[1]

        def client() -> list[tuple[int, int, float]]:
            answers = []
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(produce(1) + produce(2))  # pipelined: the second is already there when muting starts
                for _ in range(2):
                    correlation_id, body = decode_response(ApiKey.PRODUCE, 9, _read_frame(sock))
                    answers.append((correlation_id, body["throttle_time_ms"], time.monotonic()))
            return answers

        answers = loop.run_until_complete(loop.run_in_executor(None, client))
        srv.close()
        loop.run_until_complete(srv.wait_closed())
    finally:
        loop.close()
    assert [(c, t) for c, t, _ in answers] == [(1, THROTTLE_MS), (2, 0)]
    first_answered = answers[0][2]
    assert first_answered < started[2]  # the throttled response went out before the mute ended
    assert started[2] - started[1] >= THROTTLE_MS / 1000 - 0.01  # the next request waited out the throttle
