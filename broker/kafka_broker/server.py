"""The Kafka listener: frames requests, dispatches them to handlers, answers in request order.

Each connection reads length-prefixed frames; a frame over ``socket.request.max.bytes``, a
malformed header, an unknown API or an unsupported version closes the connection (ApiVersions
excepted: it is answered at v0 with UNSUPPORTED_VERSION, as KIP-511 asks). Requests are
pipelined: each becomes a task as soon as it is read, and a per-connection writer sends the
responses strictly in request order. Fetch responses are written as header bytes followed by
the log slice, which goes to the socket with ``sendfile`` (zero-copy) whenever the socket's
buffer is empty — on the stdlib loop through ``loop.sendfile``, under uvloop with ``os.sendfile``
on the socket itself.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import struct
from typing import Any

from kafka_broker.handlers import HANDLERS, BrokerServices, RequestContext
from kafka_broker.handlers.api_versions import unsupported_version_response
from kafka_broker.protocol import (
    ApiKey,
    FileSlice,
    ProtocolError,
    RequestHeader,
    decode_request,
    decode_request_header,
    encode_response,
)

log = logging.getLogger(__name__)

SIZE = struct.Struct(">i")
WRITE_HIGH_WATER = 4 * 1024 * 1024


class _FdFile:
    """The minimal file object ``loop.sendfile`` needs around a raw descriptor."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    def seek(self, offset: int, whence: int = 0) -> int:
        return os.lseek(self._fd, offset, whence)


class KafkaConnection(asyncio.Protocol):
    def __init__(self, services: BrokerServices, metrics: Any = None) -> None:
        self.services = services
        self.max_frame = services.config.socket_request_max_bytes
        self.max_inflight = services.config.queued_max_requests
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self._buffer = bytearray()
        self._pending: collections.deque[asyncio.Future[list[bytes | FileSlice] | None]] = collections.deque()
        self._has_pending = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._paused_reading = False
        self._closing = False
        self._can_write = asyncio.Event()
        self._can_write.set()

    # --- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio.Transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._can_write.set()
        if self._writer is not None:
            self._writer.cancel()
        for future in self._pending:
            future.cancel()
        self._pending.clear()

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        position = 0
        available = len(buffer)
        while available - position >= 4:
            (size,) = SIZE.unpack_from(buffer, position)
            if size < 0 or size > self.max_frame:
                log.warning("closing %s: frame of %d bytes exceeds socket.request.max.bytes (%d)",
                            self.peer, size, self.max_frame)
                self._abort()
                return
            if available - position - 4 < size:
                break
            frame = buffer[position + 4: position + 4 + size]  # a copy, writable: batches get offsets in place
            position += 4 + size
            if not self._dispatch(frame):
                return
        if position:
            del buffer[:position]

    # --- dispatch --------------------------------------------------------------------------------

    def _dispatch(self, frame: bytearray) -> bool:
        try:
            header, offset = decode_request_header(frame)
        except ProtocolError as exc:
            log.warning("closing %s: malformed request header: %s", self.peer, exc)
            self._abort()
            return False
        route = HANDLERS.get(header.api_key)
        if route is None or not route.min_version <= header.api_version <= route.max_version:
            if header.api_key == ApiKey.API_VERSIONS:
                self._enqueue_ready(encode_response(
                    RequestHeader(header.api_key, 0, header.correlation_id, header.client_id),
                    unsupported_version_response(),
                ))
                return True
            log.warning("closing %s: unsupported API %s v%d", self.peer, header.api_key, header.api_version)
            self._abort()
            return False
        try:
            request = decode_request(header, frame, offset)
        except ProtocolError as exc:
            log.warning("closing %s: malformed %s v%d request: %s (first bytes: %s)", self.peer,
                        route.handle.__module__.rsplit(".", 1)[-1], header.api_version, exc, bytes(frame[:64]).hex())
            self._abort()
            return False
        ctx = RequestContext(header=header, services=self.services, peer=self.peer)
        task = asyncio.get_running_loop().create_task(self._handle(route.handle, request, ctx))
        self._pending.append(task)
        self._has_pending.set()
        if len(self._pending) >= self.max_inflight and not self._paused_reading and self.transport:
            self._paused_reading = True
            self.transport.pause_reading()
        return True

    async def _handle(
        self, handle: Any, request: dict[str, Any], ctx: RequestContext
    ) -> list[bytes | FileSlice] | None:
        try:
            body = await handle(request, ctx)
        except Exception:
            log.exception("handler for API %d v%d failed", ctx.header.api_key, ctx.header.api_version)
            self._abort()
            raise
        if body is None:
            return None
        return encode_response(ctx.header, body)

    def _enqueue_ready(self, chunks: list[bytes | FileSlice]) -> None:
        future: asyncio.Future[list[bytes | FileSlice] | None] = asyncio.get_running_loop().create_future()
        future.set_result(chunks)
        self._pending.append(future)
        self._has_pending.set()

    def _abort(self) -> None:
        self._closing = True
        if self.transport is not None:
            self.transport.abort()

    # --- writing ---------------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        transport = self.transport
        assert transport is not None
        while not self._closing:
            if not self._pending:
                self._has_pending.clear()
                await self._has_pending.wait()
                continue
            future = self._pending[0]
            try:
                chunks = await future
            except asyncio.CancelledError:
                if self._closing:
                    return
                raise
            except Exception:
                return
            if self._closing or not self._pending or self._pending[0] is not future:
                return
            self._pending.popleft()
            if self._paused_reading and len(self._pending) < self.max_inflight // 2:
                self._paused_reading = False
                transport.resume_reading()
            if chunks is None:
                continue
            for chunk in chunks:
                if isinstance(chunk, FileSlice):
                    await self._send_file(chunk)
                else:
                    transport.write(chunk)
            if not self._can_write.is_set():
                await self._can_write.wait()

    async def _send_file(self, chunk: FileSlice) -> None:
        transport = self.transport
        assert transport is not None
        if chunk.length == 0 or self._closing:
            return
        position, remaining = chunk.position, chunk.length
        if transport.get_write_buffer_size() == 0:
            loop = asyncio.get_running_loop()
            if isinstance(loop, asyncio.BaseEventLoop) and type(loop).__module__.startswith("asyncio"):
                await loop.sendfile(transport, _FdFile(chunk.fd), position, remaining)  # type: ignore[arg-type]
                return
            sock = transport.get_extra_info("socket")
            if sock is not None:
                fd = sock.fileno()
                try:
                    while remaining:
                        sent = os.sendfile(fd, chunk.fd, position, remaining)
                        if sent == 0:
                            break
                        position += sent
                        remaining -= sent
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    self._abort()
                    return
        if remaining:
            transport.write(os.pread(chunk.fd, remaining, position))


async def start_server(services: BrokerServices, host: str, port: int) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: KafkaConnection(services), host or None, port,
                                    reuse_address=True, backlog=1024)
