"""What one client can take from the listener is bounded: memory grows with the bytes a client sends,
not with the sizes it announces, and stays within ``queued.max.request.bytes`` (plus one frame) without
frames stalling each other; a pipelining client gets one request started per turn of the event loop;
a client that does not read its responses gets nothing more handled; connection counts and idle
connections are limited; a closed connection's memory is given back at once and the connection object
is freed without the garbage collector.

Each test runs a real listener on the stdlib loop and on uvloop, with blocking clients in threads. The
tests that need no new setting build connections as the broker did before (``KafkaConnection(services)``)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import struct
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import uvloop

from kafka_broker import server
from kafka_broker.config import build_config
from kafka_broker.handlers import Route
from kafka_broker.protocol import ApiKey, decode_response, encode_request

LOOPS = pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop],
                                ids=["asyncio", "uvloop"])
MiB = 1024 * 1024


def services(**config: Any) -> SimpleNamespace:
    defaults = {"socket_request_max_bytes": 128 * MiB, "queued_max_requests": 500, "socket_send_buffer_bytes": -1,
                "socket_receive_buffer_bytes": -1}
    return SimpleNamespace(config=SimpleNamespace(**{**defaults, **config}))


def settings(**props: str) -> Any:
    """The listener's settings as the broker parses them from server.properties."""
    return build_config({"broker.id": "1", "zookeeper.connect": "zk:2181", **props}).socket_server


def produce(correlation_id: int, payload: bytes = b"x") -> bytes:
    return encode_request(ApiKey.PRODUCE, 9, correlation_id, "t", {
        "transactional_id": None, "acks": 1, "timeout_ms": 1000,
        "topic_data": [{"name": "t", "partition_data": [{"index": 0, "records": payload}]}]})


def produce_answer(base_offset: int) -> dict[str, Any]:
    return {"responses": [{"name": "t", "partition_responses": [
        {"index": 0, "error_code": 0, "base_offset": base_offset, "log_append_time_ms": -1,
         "log_start_offset": 0}]}], "throttle_time_ms": 0}


def read_answer(sock: socket.socket) -> tuple[int, int]:
    """(correlation id, base offset) of the next produce response."""
    (size,) = struct.unpack(">i", exactly(sock, 4))
    correlation_id, body = decode_response(ApiKey.PRODUCE, 9, exactly(sock, size))
    return correlation_id, body["responses"][0]["partition_responses"][0]["base_offset"]


def exactly(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(n)
        if not chunk:
            raise ConnectionError("closed by the server")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def closed_by_server(sock: socket.socket, timeout: float = 10) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


async def until(condition: Callable[[], bool], *, timeout: float = 10, what: str = "condition") -> None:
    """Wait, on the server's loop, until ``condition`` holds (an upper bound, not a duration)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


Scenario = Callable[[int, list[Any]], Awaitable[Any]]


def serve(loop_factory: Callable[[], asyncio.AbstractEventLoop], scenario: Scenario, *, svc: Any,
          listener_settings: Any = None) -> Any:
    """Run ``scenario(port, connections)`` against a listener; ``connections`` are weak references to
    every connection made, in order."""
    loop = loop_factory()
    refs: list[Any] = []

    async def main() -> Any:
        listener = server.Listener(svc, listener_settings) if listener_settings is not None else None

        def factory() -> server.KafkaConnection:
            connection = server.KafkaConnection(svc) if listener is None else server.KafkaConnection(svc, listener)
            refs.append(weakref.ref(connection))
            return connection

        srv = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
        try:
            return await scenario(srv.sockets[0].getsockname()[1], refs)
        finally:
            srv.close()
            await srv.wait_closed()

    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


@contextlib.contextmanager
def connected(port: int, *, source: str | None = None) -> Iterator[socket.socket]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10,
                                    source_address=(source, 0) if source else None)
    try:
        yield sock
    finally:
        sock.close()


def route(monkeypatch: pytest.MonkeyPatch, handle: Any) -> None:
    monkeypatch.setitem(server.HANDLERS, int(ApiKey.PRODUCE), Route(int(ApiKey.PRODUCE), 3, 9, handle))


# --- memory --------------------------------------------------------------------------------------------


@LOOPS
def test_memory_follows_the_bytes_received_not_the_size_announced(monkeypatch, loop_factory) -> None:
    """Announcing 100 MB costs nothing; dribbling part of a frame costs about twice what was sent; the frame
    arrives whole, and closing the connections gives every byte back."""
    payloads: list[bytes] = []

    async def handle(request, _ctx):
        payloads.append(bytes(request["topic_data"][0]["partition_data"][0]["records"]))
        return produce_answer(len(payloads))

    route(monkeypatch, handle)
    payload = bytes(range(256)) * 8192  # 2 MiB
    frame = produce(7, payload)

    async def scenario(port: int, refs: list[Any]) -> None:
        socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(8)]
        dribbler = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            for sock in socks:
                sock.sendall(struct.pack(">i", 100_000_000))  # only a size prefix
            await until(lambda: len(refs) == 9, what="9 connections")
            pool = refs[0]().listener.pool
            with connected(port) as barrier:  # a request answered after the prefixes were read
                await asyncio.to_thread(barrier.sendall, produce(1))
                assert (await asyncio.to_thread(read_answer, barrier))[0] == 1
            assert pool.used == 0, "a size prefix alone took memory"
            sent = 0
            for piece in range(0, 3000, 3):  # a slowloris: 3 bytes at a time
                await asyncio.to_thread(dribbler.sendall, frame[piece:piece + 3])
                sent += 3
            await until(lambda: refs[8]()._frame_got >= sent - 4, what="the dribbled bytes")
            assert pool.used <= 2 * sent + server.MIN_FRAME_BUFFER
            await asyncio.to_thread(dribbler.sendall, frame[3000:])  # the rest, at once
            assert await asyncio.to_thread(read_answer, dribbler) == (7, 2)
            assert payloads[-1] == payload
        finally:
            for sock in [*socks, dribbler]:
                sock.close()
        await until(lambda: pool.used == 0, what="every byte given back")

    serve(loop_factory, scenario, svc=services(), listener_settings=settings())


@LOOPS
def test_a_spent_pool_bounds_memory_and_every_frame_still_completes(monkeypatch, loop_factory) -> None:
    """queued.max.request.bytes = socket.request.max.bytes = 1 MiB, and four clients each send 900 KB of
    a 1 MB frame before the rest: memory held stays within the pool plus one frame (plus what a
    connection may still read when the pool is spent), and all four frames are answered."""

    async def handle(request, _ctx):
        return produce_answer(len(request["topic_data"][0]["partition_data"][0]["records"]))

    route(monkeypatch, handle)
    svc = services(socket_request_max_bytes=MiB)
    frames = [produce(i + 1, bytes([i]) * 1_000_000) for i in range(4)]
    peak = 0

    async def scenario(port: int, refs: list[Any]) -> None:
        nonlocal peak
        socks = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in frames]
        try:
            await until(lambda: len(refs) == 4, what="4 connections")
            pool = refs[0]().listener.pool
            senders = [threading.Thread(target=sock.sendall, args=(frame[:900_000],), daemon=True)
                       for sock, frame in zip(socks, frames, strict=True)]
            for sender in senders:
                sender.start()
            # the pool is spent: the frames that do not fit wait (their senders block in sendall)
            await until(lambda: pool.available <= 0, what="the pool spent")
            for _ in range(100):
                peak = max(peak, pool.used)
                await asyncio.sleep(0.01)
            for sock, frame in zip(socks, frames, strict=True):
                threading.Thread(target=lambda s=sock, f=frame: (s.sendall(f[900_000:])), daemon=True).start()
            answers = await asyncio.gather(*(asyncio.to_thread(read_answer, sock) for sock in socks))
            assert sorted(answers) == [(i + 1, 1_000_000) for i in range(4)]
            peak = max(peak, pool.used)
        finally:
            for sock in socks:
                sock.close()
        await until(lambda: pool.used == 0, what="every byte given back")

    serve(loop_factory, scenario, svc=svc, listener_settings=settings(**{
        "socket.request.max.bytes": str(MiB), "queued.max.request.bytes": str(MiB)}))
    assert peak <= 2 * MiB + 4 * server.MIN_FRAME_BUFFER


@LOOPS
def test_a_closed_connection_is_freed_without_the_garbage_collector(monkeypatch, loop_factory) -> None:
    """A client goes with part of a large frame sent and its earlier request answered, or still being
    handled: either way the connection object, and the buffers it holds, is freed by reference counting
    alone."""
    pending = False

    async def handle(_request, ctx):
        if pending:
            await asyncio.sleep(3600)
        return produce_answer(ctx.header.correlation_id)

    route(monkeypatch, handle)

    async def scenario(port: int, refs: list[Any]) -> None:
        nonlocal pending
        for pending_now in (False, True):
            pending = pending_now
            refs.clear()
            await one_client(port, refs)

    async def one_client(port: int, refs: list[Any]) -> None:
        with connected(port) as sock:
            sock.sendall(produce(1))
            if not pending:
                assert (await asyncio.to_thread(read_answer, sock))[0] == 1
            sock.sendall(produce(2, b"y" * 200_000)[:100_000])
            await until(lambda: bool(refs) and refs[0]()._frame_got > 50_000, what="part of the second frame")

        def closed() -> bool:
            connection = refs[0]()
            return connection is None or connection.transport is None or connection.transport.is_closing()

        await until(closed, what="the connection closed")
        for _ in range(10):  # let the loop finish with it, and what was cancelled unwind
            await asyncio.sleep(0)
        assert refs[0]() is None, f"still referred to by {gc.get_referrers(refs[0]())}"

    gc.disable()
    try:
        serve(loop_factory, scenario, svc=services())
    finally:
        gc.enable()


# --- scheduling ----------------------------------------------------------------------------------------


@LOOPS
def test_a_pipelining_client_cannot_push_another_clients_request_back(monkeypatch, loop_factory) -> None:
    """Client A pipelines 300 requests that hold the event loop for 3 ms each; once the broker is at it,
    client B sends one: B's is handled after a few more of A's, not after all of them (one request per
    connection per turn of the loop)."""
    handled: list[int] = []

    async def handle(_request, ctx):
        handled.append(ctx.header.correlation_id)
        if ctx.header.correlation_id < 100_000:
            time.sleep(0.003)  # work that holds the event loop
        return produce_answer(0)

    route(monkeypatch, handle)

    def clients(port: int) -> tuple[int, float]:
        with connected(port) as flood, connected(port) as quiet:
            flood.sendall(b"".join(produce(i) for i in range(1, 301)))
            deadline = time.monotonic() + 10
            while len(handled) < 5:  # the broker is at the flood (read from this thread: the loop is busy)
                assert time.monotonic() < deadline
                time.sleep(0.0005)
            before, started = len(handled), time.monotonic()
            quiet.sendall(produce(100_000))
            assert read_answer(quiet)[0] == 100_000
            latency = time.monotonic() - started
            assert [read_answer(flood)[0] for _ in range(300)] == list(range(1, 301))  # answered in order
            return handled.index(100_000) - before, latency

    async def scenario(port: int, _refs: list[Any]) -> None:
        waited, latency = await asyncio.to_thread(clients, port)
        assert waited < 25, f"the quiet client's request waited for {waited} of the flood's ({latency:.3f} s)"

    serve(loop_factory, scenario, svc=services())


@LOOPS
def test_a_client_that_does_not_read_gets_nothing_more_handled(monkeypatch, loop_factory) -> None:
    """Responses of 256 KiB to a client that never reads: the broker stops handling its requests once
    its transport has a MiB buffered (plus what the kernel holds), instead of handling all 2,000."""
    handled: list[int] = []

    async def handle(_request, ctx):
        handled.append(ctx.header.correlation_id)
        return {"responses": [{"name": "t" * 32767, "partition_responses": [
            {"index": i, "error_code": 0, "base_offset": 0, "log_append_time_ms": -1, "log_start_offset": 0}
            for i in range(7000)]}], "throttle_time_ms": 0}

    route(monkeypatch, handle)

    async def scenario(port: int, _refs: list[Any]) -> None:
        with connected(port) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            await asyncio.to_thread(sock.sendall, b"".join(produce(i) for i in range(1, 2001)))
            await until(lambda: len(handled) >= 5, what="some requests handled")
            count = -1
            while count != len(handled):  # until it stops growing
                count = len(handled)
                await asyncio.sleep(0.2)
            assert count < 100, f"{count} requests handled for a client that reads nothing"

    serve(loop_factory, scenario, svc=services())


# --- connections ---------------------------------------------------------------------------------------


@LOOPS
def test_max_connections_and_max_connections_per_ip(loop_factory) -> None:
    async def scenario(port: int, refs: list[Any]) -> None:
        socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
        try:
            # 127.0.0.1 may have 2 (its override); 127.0.0.2 none (max.connections.per.ip=0)
            with connected(port) as third:
                assert await asyncio.to_thread(closed_by_server, third)
            with connected(port, source="127.0.0.2") as other:
                assert await asyncio.to_thread(closed_by_server, other)
            for sock in socks:  # the two are served
                sock.settimeout(0.05)
                with pytest.raises(TimeoutError):
                    sock.recv(1)
            socks.pop().close()
            listener = refs[0]().listener
            await until(lambda: listener.quotas.total == 1, what="the closed connection uncounted")
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=10))
            await until(lambda: listener.quotas.total == 2, what="a new connection counted")
        finally:
            for sock in socks:
                sock.close()

    serve(loop_factory, scenario, svc=services(), listener_settings=settings(**{
        "max.connections.per.ip": "0", "max.connections.per.ip.overrides": "127.0.0.1:2"}))

    async def broker_wide(port: int, refs: list[Any]) -> None:
        socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
        try:
            with connected(port, source="127.0.0.3") as fourth:
                assert await asyncio.to_thread(closed_by_server, fourth)
        finally:
            for sock in socks:
                sock.close()
        listener = refs[0]().listener
        await until(lambda: listener.quotas.total == 0, what="every connection uncounted")

    serve(loop_factory, broker_wide, svc=services(), listener_settings=settings(**{"max.connections": "3"}))


@LOOPS
def test_idle_connections_are_closed_busy_ones_are_not(monkeypatch, loop_factory) -> None:
    release = asyncio.Event()

    async def handle(_request, ctx):
        if ctx.header.correlation_id == 1:
            await release.wait()  # a request pending for longer than the idle time
        return produce_answer(ctx.header.correlation_id)

    route(monkeypatch, handle)

    async def scenario(port: int, _refs: list[Any]) -> None:
        with connected(port) as idle, connected(port) as pending, connected(port) as active:
            started = time.monotonic()
            pending.sendall(produce(1))
            # the active client sends a request every 0.1 s for 1.2 s: 4 idle periods
            for i in range(12):
                await asyncio.to_thread(active.sendall, produce(10 + i))
                assert (await asyncio.to_thread(read_answer, active))[0] == 10 + i
                await asyncio.sleep(0.1)
            assert await asyncio.to_thread(closed_by_server, idle, 10)
            assert time.monotonic() - started >= 0.3
            release.set()
            assert (await asyncio.to_thread(read_answer, pending))[0] == 1  # not closed while pending
            assert await asyncio.to_thread(closed_by_server, pending, 10)  # but once idle after it

    serve(loop_factory, scenario, svc=services(), listener_settings=settings(**{"connections.max.idle.ms": "300"}))


def test_connection_settings_are_validated_as_kafka_does() -> None:
    from kafka_broker.config import ConfigError

    with pytest.raises(ConfigError, match=r"queued\.max\.request\.bytes must be larger or equal to "
                                          r"socket\.request\.max\.bytes"):
        settings(**{"queued.max.request.bytes": "1000"})
    with pytest.raises(ConfigError, match=r"max\.connections\.per\.ip can be set to zero only if"):
        settings(**{"max.connections.per.ip": "0"})
    with pytest.raises(ConfigError, match=r"max\.connections\.per\.ip\.overrides"):
        settings(**{"max.connections.per.ip.overrides": "host-without-count"})
    parsed = settings(**{"max.connections.per.ip.overrides": "hostName:100, 127.0.0.1:200,[::1]:3"})
    assert server.connection_overrides(parsed.max_connections_per_ip_overrides) == {
        "hostName": 100, "127.0.0.1": 200, "::1": 3}
    defaults = settings()
    assert (defaults.queued_max_request_bytes, defaults.connections_max_idle_ms, defaults.max_connections,
            defaults.max_connections_per_ip) == (-1, 600_000, 2**31 - 1, 2**31 - 1)
