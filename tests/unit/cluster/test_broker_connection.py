"""The broker-to-broker client connection: responses of every size, delivered in awkward pieces, decode
intact; a closed, garbled or silent peer raises and the next request reconnects."""

from __future__ import annotations

import asyncio
import struct

import pytest
import uvloop

from kafka_broker.cluster.broker_connection import BrokerConnection
from kafka_broker.protocol import ApiKey, decode_request, decode_request_header, encode_response

SIZE = struct.Struct(">i")


def fetch_response(records: bytes) -> dict:
    return {"throttle_time_ms": 0, "error_code": 0, "session_id": 0, "responses": [{"topic": "t", "partitions": [
        {"partition_index": 0, "error_code": 0, "high_watermark": 5, "last_stable_offset": 5,
         "log_start_offset": 0, "aborted_transactions": [], "preferred_read_replica": -1, "records": records}]}]}


def fetch_request() -> dict:
    return {"replica_id": 1, "max_wait_ms": 10, "min_bytes": 1, "max_bytes": 1 << 20, "isolation_level": 0,
            "session_id": 0, "session_epoch": -1, "topics": [], "forgotten_topics_data": [], "rack_id": ""}


async def serve(behaviour, connections: list[int]) -> asyncio.Server:
    """A fake broker: for each request, ``behaviour(n, header)`` gives the bytes to send, in pieces."""

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        n = 0
        try:
            while True:
                (size,) = SIZE.unpack(await reader.readexactly(4))
                frame = await reader.readexactly(size)
                header, offset = decode_request_header(frame)
                decode_request(header, frame, offset)
                n += 1
                pieces = behaviour(n, header)
                if pieces is None:
                    writer.close()
                    return
                for piece in pieces:
                    writer.write(piece)
                    await writer.drain()
                    await asyncio.sleep(0)
        except asyncio.IncompleteReadError:
            writer.close()

    return await asyncio.start_server(on_client, "127.0.0.1", 0)


def response_bytes(header, records: bytes) -> bytes:
    return b"".join(bytes(c) for c in encode_response(header, fetch_response(records)))


def pieces_of(data: bytes, cut: int) -> list[bytes]:
    return [data[i:i + cut] for i in range(0, len(data), cut)]


LOOPS = pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop],
                                ids=["asyncio", "uvloop"])


@LOOPS
def test_responses_of_every_size_in_pieces(loop_factory) -> None:
    sizes = [0, 3, 70_000, 5_000_000, 10, 200_000]
    records = [bytes([i + 1]) * n for i, n in enumerate(sizes)]

    async def main() -> list[bytes]:
        connections: list[int] = []
        # 1, 3 and 7-byte pieces cut through the size prefix; large responses arrive in big pieces.
        cuts = [1, 3, 7, 65_536, 1, 4096]
        server = await serve(lambda n, h: pieces_of(response_bytes(h, records[n - 1]), cuts[n - 1]), connections)
        port = server.sockets[0].getsockname()[1]
        conn = BrokerConnection("127.0.0.1", port, "test")
        got = []
        for _ in sizes:
            response = await conn.request(ApiKey.FETCH, 11, fetch_request(), timeout=10)
            got.append(bytes(response["responses"][0]["partitions"][0]["records"]))
        conn.close()
        server.close()
        await server.wait_closed()
        assert connections == [1]  # one connection for every request
        return got

    loop = loop_factory()
    try:
        assert loop.run_until_complete(main()) == records
    finally:
        loop.close()


@LOOPS
def test_closed_garbled_or_silent_peer_raises_and_next_request_reconnects(loop_factory) -> None:
    async def main() -> None:
        connections: list[int] = []

        def behaviour(n, header):
            if len(connections) == 1:
                return None  # close without answering
            if len(connections) == 2:
                return [SIZE.pack(-5)]  # a garbled size prefix
            if len(connections) == 3:
                return []  # never answer
            return [response_bytes(header, b"ok")]

        server = await serve(behaviour, connections)
        port = server.sockets[0].getsockname()[1]
        conn = BrokerConnection("127.0.0.1", port, "test")
        with pytest.raises(ConnectionError):
            await conn.request(ApiKey.FETCH, 11, fetch_request(), timeout=10)
        with pytest.raises(ConnectionError, match="-5 bytes"):
            await conn.request(ApiKey.FETCH, 11, fetch_request(), timeout=10)
        with pytest.raises(TimeoutError):
            await conn.request(ApiKey.FETCH, 11, fetch_request(), timeout=0.3)
        response = await conn.request(ApiKey.FETCH, 11, fetch_request(), timeout=10)
        assert bytes(response["responses"][0]["partitions"][0]["records"]) == b"ok"
        assert len(connections) == 4
        conn.close()
        server.close()
        await server.wait_closed()

    loop = loop_factory()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
