"""The Kafka listener: frames requests, dispatches them to handlers, answers in request order.

Each connection reads length-prefixed frames; a frame over ``socket.request.max.bytes``, a
malformed header, an unknown API or an unsupported version closes the connection (ApiVersions
excepted: it is answered at v0 with UNSUPPORTED_VERSION, as KIP-511 asks). Requests are
pipelined: each becomes a task as soon as it is read, and a per-connection writer sends the
responses strictly in request order.

A handler that raises :class:`~kafka_broker.handlers.context.CloseConnection` (Produce with
``acks=0`` that failed: the producer expects no answer, so a closed connection is how it learns)
gets no response and ends the connection in request order: reading stops, the requests after it
are cancelled, the responses before it are still written, and then the transport is closed. Tasks
start in the order they were created, so a handler that raises before its first ``await`` (Produce
does) stops every later request before it has begun.

Reading is an :class:`asyncio.BufferedProtocol`: the event loop receives straight into our
memory. Small frames arrive in a shared receive buffer and are copied out once (the handlers
need a writable frame: produce stamps offsets into its batches in place); a frame of at least
``LARGE_FRAME`` bytes (a produce request full of batches) gets its own ``bytearray`` as soon as
its size is known, and the socket is read directly into it — its bytes are never copied by us.

Writing: responses that are ready together go out with one ``writelines`` (one ``writev``).
Fetch responses are header bytes followed by the log slice, which goes to the socket with
``sendfile`` (zero-copy) once the transport has sent everything before it — on the stdlib loop
through ``loop.sendfile``; under uvloop (whose ``loop.sendfile`` is not implemented) with
``os.sendfile`` on the socket itself, waiting for the socket to become writable again (a watch on
a duplicate of its descriptor, which the transport does not own, kept registered for the whole
slice) whenever the kernel's buffer is full. A slice must go out whole: when its file has shrunk
under it (truncation or retention after the fetch read the log), fewer bytes than the size prefix
announced would reach the client and the stream would be out of step, so the connection is aborted.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import struct
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from kafka_broker.cluster.broker_connection import set_socket_buffers
from kafka_broker.handlers import HANDLERS, BrokerServices, CloseConnection, RequestContext
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
RECEIVE_BUFFER = 256 * 1024
"""Bytes of the shared receive buffer each connection reads small frames into."""
LARGE_FRAME = 64 * 1024
"""Frames of at least this many bytes are received straight into their own buffer."""


@runtime_checkable
class StreamTransport(Protocol):
    """What a connection uses of its transport. asyncio's ``Transport`` has all of it, and so has
    uvloop's ``TCPTransport``, which is not an ``asyncio.Transport`` subclass."""

    def write(self, data: bytes | bytearray | memoryview, /) -> None: ...
    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview], /) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...
    def is_closing(self) -> bool: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def get_write_buffer_size(self) -> int: ...
    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None: ...
    def get_extra_info(self, name: str, default: Any = None, /) -> Any: ...


class _FdFile:
    """The file object ``loop.sendfile`` needs around a segment's descriptor, for its native path
    (``fileno``, ``seek``) and its read-and-write fallback (``readinto``, used by transports that cannot
    sendfile, such as TLS). It keeps its own position and reads with ``preadv``: the descriptor is shared
    by every connection reading the segment, so its file offset must never be relied on or moved."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._position = 0

    def fileno(self) -> int:
        return self._fd

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position}.get(whence)
        self._position = (os.fstat(self._fd).st_size if base is None else base) + offset
        return self._position

    def readinto(self, buffer: memoryview) -> int:
        read = os.preadv(self._fd, [buffer], self._position)
        self._position += read
        return read


class _WritableWatch:
    """Waits for a socket to take more bytes, staying registered across the waits of one transfer:
    a writer watch added and removed for every buffer-full (two epoll_ctl calls and a handle each)
    costs more than the wait itself."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        self._loop = loop
        self._fd = fd
        self._waiter: asyncio.Future[None] | None = None
        self._registered = False

    def _on_writable(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait(self) -> None:
        if not self._registered:
            self._loop.add_writer(self._fd, self._on_writable)
            self._registered = True
        self._waiter = self._loop.create_future()
        await self._waiter

    def close(self) -> None:
        if self._registered:
            self._registered = False
            self._loop.remove_writer(self._fd)


class KafkaConnection(asyncio.BufferedProtocol):
    def __init__(self, services: BrokerServices) -> None:
        self.services = services
        self.max_frame = services.config.socket_request_max_bytes
        self.max_inflight = services.config.queued_max_requests
        self.transport: StreamTransport | None = None
        self.peer = ""
        # Receive buffer: unparsed bytes are self._buffer[self._start:self._end].
        self._buffer = bytearray(RECEIVE_BUFFER)
        self._view = memoryview(self._buffer)
        self._start = 0
        self._end = 0
        # A large frame being received into its own buffer: self._frame[:self._frame_got] has arrived.
        self._frame: bytearray | None = None
        self._frame_view: memoryview | None = None
        self._frame_got = 0
        self._pending: collections.deque[asyncio.Future[list[bytes | FileSlice] | None]] = collections.deque()
        self._has_pending = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._paused_reading = False
        self._accepting = True  # False once a handler asked for the connection to be closed
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._watch_fd = -1  # a duplicate of the socket's descriptor, to wait for writability (uvloop)

    # --- asyncio.BufferedProtocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not isinstance(transport, StreamTransport):
            raise TypeError(f"a Kafka connection needs a stream transport, not {type(transport).__name__}")
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        config = self.services.config
        set_socket_buffers(transport, send=config.socket_send_buffer_bytes, receive=config.socket_receive_buffer_bytes)
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    def connection_lost(self, exc: Exception | None) -> None:
        self._can_write.set()
        if self._writer is not None:
            self._writer.cancel()
        for future in self._pending:
            if future.done() and not future.cancelled():
                future.exception()  # seen: a failure was logged when it happened, a CloseConnection is moot
            future.cancel()
        self._pending.clear()
        if self._watch_fd >= 0:
            # Our duplicate keeps the socket open: close it now, or the peer never sees the close.
            asyncio.get_running_loop().remove_writer(self._watch_fd)
            os.close(self._watch_fd)
            self._watch_fd = -1

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._frame_view is not None:
            return self._frame_view[self._frame_got:]
        if self._end == len(self._buffer):
            # Full: move the unparsed tail (a partial small frame, < LARGE_FRAME + 4 bytes) to the front.
            pending = self._end - self._start
            self._view[:pending] = self._view[self._start:self._end]
            self._start, self._end = 0, pending
        return self._view[self._end:]

    def buffer_updated(self, nbytes: int) -> None:
        if self._frame is not None:
            self._frame_got += nbytes
            if self._frame_got < len(self._frame):
                return
            frame = self._frame
            assert self._frame_view is not None
            self._frame_view.release()
            self._frame = self._frame_view = None
            self._dispatch(frame)
            return
        self._end += nbytes
        self._parse()

    def _parse(self) -> None:
        """Dispatch every complete frame in the receive buffer; start receiving a large one in place."""
        buffer = self._buffer
        position, end = self._start, self._end
        while end - position >= 4:
            (size,) = SIZE.unpack_from(buffer, position)
            if size < 0 or size > self.max_frame:
                log.warning("closing %s: frame of %d bytes exceeds socket.request.max.bytes (%d)",
                            self.peer, size, self.max_frame)
                self._abort()
                return
            available = end - position - 4
            if available < size:
                if size >= LARGE_FRAME:
                    frame = bytearray(size)
                    frame[:available] = self._view[position + 4:end]
                    self._frame, self._frame_view, self._frame_got = frame, memoryview(frame), available
                    position = end
                break
            frame = buffer[position + 4: position + 4 + size]  # a copy, writable: batches get offsets in place
            position += 4 + size
            if not self._dispatch(frame):
                return
        if position == end:
            position = end = 0
        self._start, self._end = position, end

    # --- dispatch --------------------------------------------------------------------------------

    def _dispatch(self, frame: bytearray) -> bool:
        if not self._accepting:
            return False  # a handler asked to close: later requests are not handled
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
        except CloseConnection as exc:
            log.info("closing %s after request %d (API %d v%d, client %r): %s", self.peer, ctx.header.correlation_id,
                     ctx.header.api_key, ctx.header.api_version, ctx.header.client_id, exc)
            self._stop_after(asyncio.current_task())
            raise
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

    def _stop_after(self, last: asyncio.Future[Any] | None) -> None:
        """Handle no request after ``last``: stop reading, cancel the ones already dispatched. The
        writer closes the connection when it reaches ``last``."""
        self._accepting = False
        if self.transport is not None and not self._paused_reading:
            self._paused_reading = True
            self.transport.pause_reading()
        pending = self._pending
        while pending and pending[-1] is not last:
            pending.pop().cancel()

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _closed(self) -> bool:
        """Whether the connection is closing or gone: asked of the transport each time, since that can
        change during any ``await``."""
        return self.transport is None or self.transport.is_closing()

    # --- writing ---------------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        transport = self.transport
        assert transport is not None
        pending = self._pending
        out: list[bytes] = []
        while not self._closed():
            if not pending:
                self._has_pending.clear()
                await self._has_pending.wait()
                continue
            future = pending[0]
            try:
                chunks = await future
            except asyncio.CancelledError:
                if self._closed():
                    return
                raise
            except CloseConnection:
                transport.close()  # after what is already buffered: the earlier responses
                return
            except Exception:
                return
            if self._closed() or not pending or pending[0] is not future:
                return
            pending.popleft()
            # Coalesce: this response and every following one that is already done, in one writev.
            while True:
                if chunks is not None:
                    for chunk in chunks:
                        if isinstance(chunk, FileSlice):
                            if out:
                                transport.writelines(out)
                                out.clear()
                            await self._send_file(chunk)
                            if self._closed():
                                return
                        else:
                            out.append(chunk)
                if not pending or not pending[0].done() or pending[0].cancelled():
                    break
                done = pending[0]
                if done.exception() is not None:
                    break  # the next round reports it
                pending.popleft()
                chunks = done.result()
            if out:
                transport.writelines(out)
                out.clear()
            if self._paused_reading and self._accepting and len(pending) < self.max_inflight // 2:
                self._paused_reading = False
                transport.resume_reading()
            if not self._can_write.is_set():
                await self._can_write.wait()

    async def _send_file(self, chunk: FileSlice) -> None:
        """Send the slice whole, or abort the connection: its size is already in the frame's prefix."""
        transport = self.transport
        assert transport is not None
        if chunk.length == 0 or self._closed():
            return
        position, remaining = chunk.position, chunk.length
        loop = asyncio.get_running_loop()
        if isinstance(loop, asyncio.BaseEventLoop) and type(loop).__module__.startswith("asyncio"):
            if isinstance(transport, asyncio.WriteTransport) and transport.get_write_buffer_size() == 0:
                sent = await loop.sendfile(transport, _FdFile(chunk.fd), position, remaining)  # type: ignore[arg-type]
                self._check_sent_whole(chunk, remaining - sent)  # a short count: the file ended first
                return
        else:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                fd = sock.fileno()
                watch_fd = self._watch_fd_for(fd)
                watch = _WritableWatch(loop, watch_fd)
                try:
                    # The bytes before the slice must be on the wire first.
                    while transport.get_write_buffer_size() and not self._closed():
                        await watch.wait()
                        await asyncio.sleep(0)  # let the transport flush its buffer on this wake-up
                    while remaining and not self._closed():
                        try:
                            sent = os.sendfile(fd, chunk.fd, position, remaining)
                        except (BlockingIOError, InterruptedError):
                            await watch.wait()
                            continue
                        except OSError:
                            self._abort()
                            return
                        if sent == 0:
                            break  # end of file before the end of the slice
                        position += sent
                        remaining -= sent
                finally:
                    if self._watch_fd == watch_fd:  # else connection_lost closed it and removed the watch
                        watch.close()
                self._check_sent_whole(chunk, remaining)
                return
        if remaining and not self._closed():
            data = os.pread(chunk.fd, remaining, position)
            if len(data) == remaining:
                transport.write(data)
            self._check_sent_whole(chunk, remaining - len(data))

    def _check_sent_whole(self, chunk: FileSlice, missing: int) -> None:
        """Abort when part of the slice could not be sent: the file ended before the slice did."""
        if missing > 0 and not self._closed():
            log.warning("closing %s: the log file shrank under a fetch (%d of the %d bytes at position %d are gone)",
                        self.peer, missing, chunk.length, chunk.position)
            self._abort()

    def _watch_fd_for(self, fd: int) -> int:
        """A duplicate of the socket's descriptor to watch for writability: the event loop refuses
        watchers on descriptors its transports own."""
        if self._watch_fd < 0:
            self._watch_fd = os.dup(fd)
        return self._watch_fd


async def start_server(services: BrokerServices, host: str, port: int) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: KafkaConnection(services), host or None, port,
                                    reuse_address=True, backlog=1024)
