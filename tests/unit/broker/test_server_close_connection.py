"""A handler that raises CloseConnection (a failed acks=0 produce) ends the connection in request
order: the responses to the requests before it still go out, in order, then the connection closes;
no request after it is handled."""

from __future__ import annotations

import asyncio
import socket
import struct
from types import SimpleNamespace

import pytest
import uvloop

from kafka_broker import server
from kafka_broker.handlers import Route
from kafka_broker.handlers.produce import CloseConnection
from kafka_broker.protocol import ApiKey, decode_response, encode_request


def produce(correlation_id: int) -> bytes:
    return encode_request(ApiKey.PRODUCE, 9, correlation_id, "t", {
        "transactional_id": None, "acks": 1, "timeout_ms": 1000,
        "topic_data": [{"name": "t", "partition_data": [{"index": 0, "records": b"x"}]}]})


def _frames_until_closed(sock: socket.socket) -> list[bytes]:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        except TimeoutError:
            pytest.fail("the connection stayed open")
        if not chunk:
            break
        data += chunk
    frames = []
    while data:
        (size,) = struct.unpack(">i", data[:4])
        frames.append(data[4:4 + size])
        data = data[4 + size:]
    return frames


@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"])
def test_earlier_responses_go_out_then_the_connection_closes(monkeypatch, loop_factory) -> None:
    handled: list[int] = []

    async def handle(_request, ctx):
        correlation_id = ctx.header.correlation_id
        handled.append(correlation_id)
        if correlation_id == 1:
            await asyncio.sleep(0.05)  # the earliest response is the last one ready
        if correlation_id == 3:
            raise CloseConnection("acks=0 produce failed")
        return {"responses": [{"name": "t", "partition_responses": [
            {"index": 0, "error_code": 0, "base_offset": correlation_id, "log_append_time_ms": -1,
             "log_start_offset": 0}]}], "throttle_time_ms": 0}

    monkeypatch.setitem(server.HANDLERS, int(ApiKey.PRODUCE), Route(int(ApiKey.PRODUCE), 3, 9, handle))
    services = SimpleNamespace(config=SimpleNamespace(
        socket_request_max_bytes=1 << 20, queued_max_requests=100, socket_send_buffer_bytes=-1,
        socket_receive_buffer_bytes=-1))
    loop = loop_factory()
    try:
        srv = loop.run_until_complete(loop.create_server(lambda: server.KafkaConnection(services), "127.0.0.1", 0))
        port = srv.sockets[0].getsockname()[1]

        def client() -> list[bytes]:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(b"".join(produce(i) for i in (1, 2, 3, 4)))  # pipelined
                return _frames_until_closed(sock)

        frames = loop.run_until_complete(loop.run_in_executor(None, client))
        srv.close()
        loop.run_until_complete(srv.wait_closed())
    finally:
        loop.close()
    answered = [decode_response(ApiKey.PRODUCE, 9, frame)[0] for frame in frames]
    assert answered == [1, 2]
    assert handled == [1, 2, 3]
