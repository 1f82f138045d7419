"""The Kafka listener: frames requests, dispatches them to handlers, answers in request order, and keeps
what any one client can take from the broker — memory, connections, turns of the event loop — bounded.

**Framing.** Each connection reads length-prefixed frames; a frame over ``socket.request.max.bytes``, a
malformed header, an unknown API or an unsupported version closes the connection (ApiVersions excepted:
it is answered at v0 with UNSUPPORTED_VERSION, as KIP-511 asks).

**Memory grows with the bytes received, never with the bytes announced.** Reading is an
:class:`asyncio.BufferedProtocol`. Every connection of a listener reads into the listener's one receive
buffer (the event loop hands a read to its protocol before it reads for another connection, so nothing is
left there between reads); complete frames are copied out of it (the handlers need a writable frame:
produce stamps offsets into its batches in place). A frame that has not fully arrived gets a buffer of its
own only when its first bytes do — a size prefix alone costs nothing — sized at twice what has arrived
(at least ``MIN_FRAME_BUFFER``) and doubled as more arrives, never past the announced size; while it has
at least ``DIRECT_READ`` bytes of room, the socket is read straight into it. So a client announcing
100 MB and sending 10 bytes holds 4 KiB, and a frame dribbled a byte at a time costs two copies of its
bytes, not one per byte. An idle connection holds no buffer at all.

All of it is counted in the listener's :class:`MemoryPool` (``queued.max.request.bytes``, Kafka's
``MemoryPool``): frame buffers and complete frames, from their first byte until their handler is done.
When the pool is spent, a connection reads at most ``MIN_FRAME_BUFFER`` bytes more and, with a frame
still incomplete, stops reading until memory is given back (Kafka mutes such a channel the same way).
So that frames waiting for each other's memory never stall for good, the oldest waiter may finish its
current frame regardless (one frame, at most ``socket.request.max.bytes``, over the pool — the overshoot
Kafka's non-strict pool allows too).

**Scheduling.** Requests are pipelined: up to ``queued.max.requests`` per connection are being handled at
once, answered strictly in request order. Complete frames beyond what may start now wait in the
connection's queue, and the connection is not read from while any do. A connection starts at most one
request per turn of the event loop: the first of a read starts at once, each next one is scheduled behind
everything else that is ready (``loop.call_soon``), so a client pipelining thousands of requests gets the
same share of the loop as one sending a request at a time, and cannot push the latter's answers back
behind its own. A client that does not read its responses (the transport asks us to pause writing) gets
no further request started and is not read from until it catches up, as Kafka mutes a channel whose
response is pending. A client over its quota (a handler sets ``ctx.throttle_time_ms``) is muted the same
way for that long, its responses still going out (KIP-219: :mod:`kafka_broker.cluster.client_quotas`).

**Writing.** No task per connection: when a request's task is done, its callback writes every response at
the head of the queue that is ready, together (one ``writelines``, one ``writev``). Fetch responses are
header bytes followed by the log slice, which goes to the socket with ``sendfile`` (zero-copy) once the
transport has sent everything before it — on the stdlib loop through ``loop.sendfile``; under uvloop (whose
``loop.sendfile`` is not implemented) with ``os.sendfile`` on the socket itself, waiting for the socket to
become writable again (a watch on a duplicate of its descriptor, which the transport does not own, kept
registered for the whole slice) whenever the kernel's buffer is full. A slice must go out whole: when its
file has shrunk under it (truncation or retention after the fetch read the log), fewer bytes than the size
prefix announced would reach the client and the stream would be out of step, so the connection is
aborted. Only while a slice is being sent does the connection have a task of its own.

**Connections.** ``max.connections`` and ``max.connections.per.ip`` (with
``max.connections.per.ip.overrides``) are checked as a connection is accepted; one over a limit is closed
at once (Kafka's acceptor closes a connection over its IP's limit the same way, but waits for a free slot
under ``max.connections``; asyncio's server cannot hold back an accept). A connection with nothing
received or sent for ``connections.max.idle.ms`` and no request pending is closed. On an SSL or SASL_SSL
listener the event loop runs the TLS handshake before the connection is made (and counted); a handshake not
done within ``kopfka.authentication.timeout.ms`` is aborted (the loop's ``ssl_handshake_timeout``). When a connection
closes, everything it holds is dropped and given back to the pool at once, and nothing refers to it any
more (no task holds it, and no reference cycle waits for the garbage collector).

A handler that raises :class:`~kafka_broker.handlers.context.CloseConnection` (Produce with ``acks=0``
that failed: the producer expects no answer, so a closed connection is how it learns) gets no response and
ends the connection in request order: reading stops, the requests after it are dropped (those started are
cancelled), the responses before it are still written, and then the transport is closed. A request starts
in a task created when it is dispatched, and tasks start in the order they were created, so a handler that
raises before its first ``await`` (Produce does) stops every later request before it has begun.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import logging
import os
import socket
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from kafka_broker.cluster.broker_connection import set_socket_buffers
from kafka_broker.cluster.listener_security import ListenerSecurity
from kafka_broker.config.broker import SocketServerSettings, connection_overrides
from kafka_broker.config.listeners import ListenerConfig, default_listener
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
from kafka_broker.security.authenticator import Authenticator
from kafka_broker.security.principal import ANONYMOUS, KafkaPrincipal

log = logging.getLogger(__name__)

SIZE = struct.Struct(">i")
WRITE_HIGH_WATER = 1024 * 1024
"""Bytes buffered by a transport (responses its client has not read yet) before it asks us to pause."""
RECEIVE_BUFFER = 256 * 1024
"""Bytes of a listener's receive buffer, which its connections read into in turn."""
DIRECT_READ = 64 * 1024
"""A frame with at least this much room left in its own buffer is received straight into it."""
TLS_CHUNK = 256 * 1024
"""A log slice goes out over TLS this many bytes at a time (read from the page cache, encrypted by the
transport): sendfile cannot encrypt."""
MIN_FRAME_BUFFER = 4 * 1024
"""The smallest buffer of a frame that has partly arrived; also what a connection may still read when the
memory pool is spent."""

Chunks = list[bytes | FileSlice]
_ZEROS = memoryview(bytes(1024 * 1024))
"""What a frame's buffer is extended with, a MiB at a time (a fresh ``bytes(n)`` each time would map new
zero pages to read from, a page fault per page)."""


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


class MemoryPool:
    """The bytes of requests one listener holds (``queued.max.request.bytes``): taken as a frame's bytes
    arrive, given back when its handler is done or its connection closes.

    ``available`` may go below zero: bytes already received are always taken (they are in memory anyway);
    what the pool refuses is reading more. A connection that finds the pool spent with a frame incomplete
    waits (:meth:`wait`) and is resumed, oldest first, when memory is given back; if none is, the oldest
    waiter becomes the *overdraft owner* and may finish its frame regardless, so frames that wait for one
    another's memory cannot stall for good."""

    __slots__ = ("_waiting", "_wake_scheduled", "available", "overdraft_owner", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.available = size
        self.overdraft_owner: KafkaConnection | None = None
        self._waiting: collections.deque[KafkaConnection] = collections.deque()
        self._wake_scheduled = False

    @property
    def used(self) -> int:
        return self.size - self.available

    def grants(self, connection: KafkaConnection) -> bool:
        """Whether ``connection`` may read (and allocate) more than ``MIN_FRAME_BUFFER`` bytes now."""
        return self.available > 0 or self.overdraft_owner is connection

    def take(self, nbytes: int) -> None:
        self.available -= nbytes

    def give(self, nbytes: int) -> None:
        self.available += nbytes
        if self._waiting and self.available > 0:
            self._schedule_wake()

    def wait(self, connection: KafkaConnection) -> bool:
        """``connection`` has a frame to finish and the pool is spent: True if it must stop reading until
        :meth:`KafkaConnection.memory_freed` is called; False if it may go on as the overdraft owner."""
        if self.overdraft_owner is None and not self._waiting:
            self.overdraft_owner = connection
            return False
        if connection not in self._waiting:
            self._waiting.append(connection)
        self._schedule_wake()  # the owner may have finished meanwhile
        return True

    def frame_done(self, connection: KafkaConnection) -> None:
        """``connection`` has no incomplete frame any more (or is gone): its overdraft, if any, ends."""
        if self.overdraft_owner is connection:
            self.overdraft_owner = None
            if self._waiting:
                self._schedule_wake()

    def forget(self, connection: KafkaConnection, held: int) -> None:
        """A closed connection: give back what it held, drop it from the waiters."""
        if connection in self._waiting:
            self._waiting.remove(connection)
        self.frame_done(connection)
        self.give(held)

    def _schedule_wake(self) -> None:
        if not self._wake_scheduled:
            self._wake_scheduled = True
            asyncio.get_running_loop().call_soon(self._wake)

    def _wake(self) -> None:
        self._wake_scheduled = False
        if self.available > 0:
            waiting, self._waiting = self._waiting, collections.deque()
            for connection in waiting:  # each reads again; one that finds the pool spent waits again
                connection.memory_freed()
        elif self.overdraft_owner is None and self._waiting:
            self.overdraft_owner = self._waiting.popleft()
            self.overdraft_owner.memory_freed()


def _ip_key(address: str) -> str:
    """One spelling per address: IPv4-mapped IPv6 as IPv4, IPv6 compressed; anything else as given."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.compressed


class ConnectionQuotas:
    """``max.connections`` and ``max.connections.per.ip`` (with its overrides, by address) of one listener."""

    __slots__ = ("_per_ip", "max_connections", "max_per_ip", "overrides", "total")

    def __init__(self, *, max_connections: int, max_per_ip: int, overrides: Mapping[str, int]) -> None:
        self.max_connections = max_connections
        self.max_per_ip = max_per_ip
        self.overrides = {_ip_key(host): count for host, count in overrides.items()}
        self.total = 0
        self._per_ip: dict[str, int] = {}

    def count(self, ip: str) -> int:
        return self._per_ip.get(ip, 0)

    def admit(self, ip: str) -> str | None:
        """Count a new connection from ``ip``, or say why it is refused (and count nothing)."""
        if self.total >= self.max_connections:
            return f"the broker already has max.connections ({self.max_connections}) connections"
        count = self._per_ip.get(ip, 0)
        limit = self.overrides.get(ip, self.max_per_ip)
        if count >= limit:
            return f"address already has the configured maximum of {limit} connections"
        self._per_ip[ip] = count + 1
        self.total += 1
        return None

    def release(self, ip: str) -> None:
        self.total -= 1
        count = self._per_ip.pop(ip) - 1
        if count:
            self._per_ip[ip] = count


class Listener:
    """What the connections of one listening socket share: settings, the memory pool, the connection
    counts, the receive buffer, and its security: the listener's name, its TLS principal builder and its
    SASL authenticators (:mod:`kafka_broker.security.authenticator`)."""

    __slots__ = ("auth_timeout_s", "failed_auth_delay_s", "idle_s", "max_frame", "max_inflight", "max_sasl_frame",
                 "name", "new_authenticator", "pool", "quotas", "receive_view", "services", "tls_principal")

    def __init__(self, services: BrokerServices, settings: SocketServerSettings | None = None, *,
                 overrides: Mapping[str, int] | None = None, listener: ListenerConfig | None = None,
                 new_authenticator: Callable[[], Authenticator] | None = None,
                 tls_principal: Callable[[Any], KafkaPrincipal] | None = None) -> None:
        settings = settings or SocketServerSettings()
        config = services.config
        self.services = services
        listener = listener or default_listener()
        self.name = listener.name
        self.new_authenticator = new_authenticator
        """Makes a connection's SASL authenticator; None on a listener without SASL."""
        self.tls_principal = tls_principal
        """The principal of a TLS connection from its ``ssl_object``; None on a listener without TLS."""
        own = listener.settings
        self.max_sasl_frame = int(own["sasl.server.max.receive.size"])
        """Largest frame before the connection has authenticated (``sasl.server.max.receive.size``)."""
        self.auth_timeout_s = int(own["kopfka.authentication.timeout.ms"]) / 1000
        self.failed_auth_delay_s = int(own["connection.failed.authentication.delay.ms"]) / 1000
        self.max_frame: int = config.socket_request_max_bytes
        self.max_inflight: int = config.queued_max_requests
        queued = settings.queued_max_request_bytes
        self.pool = MemoryPool(queued if queued > 0 else 2 * self.max_frame)
        self.quotas = ConnectionQuotas(
            max_connections=settings.max_connections, max_per_ip=settings.max_connections_per_ip,
            overrides=connection_overrides(settings.max_connections_per_ip_overrides) if overrides is None
            else overrides)
        idle_ms = settings.connections_max_idle_ms
        self.idle_s: float | None = idle_ms / 1000 if idle_ms >= 0 else None
        self.receive_view = memoryview(bytearray(RECEIVE_BUFFER))


class KafkaConnection(asyncio.BufferedProtocol):
    __slots__ = (
        "__weakref__", "_auth", "_auth_timer", "_authenticated", "_counted", "_drain", "_frame", "_frame_got",
        "_frame_size", "_head", "_held", "_idle", "_last_active", "_loop", "_memory_wait", "_pending", "_raw_sasl",
        "_read_paused", "_ready", "_sending", "_session_expiry", "_starting", "_throttle", "_tls", "_turn",
        "_watch_fd", "_write_paused", "accepting", "ip", "listener", "peer", "principal", "services", "transport",
    )

    def __init__(self, services: BrokerServices, listener: Listener | None = None) -> None:
        self.services = services
        self.listener = listener or Listener(services)
        self.transport: StreamTransport | None = None
        self.peer = ""
        self.ip = ""
        self.accepting = True  # False once a handler asked for the connection to be closed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._counted = False  # counted in the listener's connection quotas
        # The frame being received: its size (-1 while its size prefix is incomplete, in _head), its buffer
        # (None until its first bytes arrive; grows with them) and how much of it has arrived.
        self._head = b""
        self._frame_size = -1
        self._frame: bytearray | None = None
        self._frame_got = 0
        self._held = 0  # bytes taken from the pool: frame buffer, waiting frames, requests being handled
        self._memory_wait = False  # stopped reading until the pool has memory again
        self._ready: collections.deque[bytearray] = collections.deque()  # complete, not started yet
        self._pending: collections.deque[tuple[asyncio.Future[Chunks | None], int]] = collections.deque()
        self._starting = False  # a request was dispatched and its task has not run yet
        self._turn: asyncio.Handle | None = None  # the next request's start, scheduled behind everyone else's
        self._sending: asyncio.Task[None] | None = None  # a response with a log slice going out
        self._read_paused = False
        self._write_paused = False
        self._idle: asyncio.TimerHandle | None = None
        self._last_active = 0.0
        self._watch_fd = -1  # a duplicate of the socket's descriptor, to wait for writability (uvloop)
        self._throttle: asyncio.TimerHandle | None = None  # a client over its quota: muted until this fires
        self.principal: KafkaPrincipal = ANONYMOUS
        self._auth: Authenticator | None = None  # the SASL exchange in progress or done
        self._authenticated = self.listener.new_authenticator is None  # SASL listeners: not until SASL succeeds
        self._raw_sasl = False  # after SaslHandshake v0: frames are bare SASL tokens, no request header
        self._session_expiry: float | None = None  # connections.max.reauth.ms: loop time the session ends
        self._auth_timer: asyncio.TimerHandle | None = None  # closes a connection that does not authenticate
        self._tls = False
        self._drain: asyncio.Future[None] | None = None  # resolved when the transport may be written again

    # --- asyncio.BufferedProtocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not isinstance(transport, StreamTransport):
            raise TypeError(f"a Kafka connection needs a stream transport, not {type(transport).__name__}")
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.ip = _ip_key(peer[0]) if peer else "?"
        listener = self.listener
        refused = listener.quotas.admit(self.ip)
        if refused is not None:
            log.info("closing %s at once: %s", self.peer, refused)
            self.accepting = False
            transport.abort()
            return
        self._counted = True
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        config = self.services.config
        set_socket_buffers(transport, send=config.socket_send_buffer_bytes, receive=config.socket_receive_buffer_bytes)
        self._loop = loop = asyncio.get_running_loop()
        self._last_active = loop.time()
        if listener.idle_s is not None:
            self._idle = loop.call_later(listener.idle_s, self._check_idle)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:  # asyncio calls connection_made once the TLS handshake is done
            self._tls = True
            if listener.tls_principal is not None:
                try:
                    self.principal = listener.tls_principal(ssl_object)
                except ValueError as exc:  # no ssl.principal.mapping.rules rule maps the certificate's name
                    log.warning("closing %s: its certificate has no principal: %s", self.peer, exc)
                    self.accepting = False
                    transport.abort()
                    return
        if not self._authenticated:
            self._auth_timer = loop.call_later(listener.auth_timeout_s, self._check_authenticated)

    def connection_lost(self, exc: Exception | None) -> None:
        listener = self.listener
        if self._counted:
            self._counted = False
            listener.quotas.release(self.ip)
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self._turn is not None:
            self._turn.cancel()
            self._turn = None
        if self._throttle is not None:
            self._throttle.cancel()
            self._throttle = None
        if self._auth_timer is not None:
            self._auth_timer.cancel()
            self._auth_timer = None
        if self._drain is not None:
            self._drain.cancel()
            self._drain = None
        if self._sending is not None:
            self._sending.cancel()
            self._sending = None
        for future, _size in self._pending:
            if future.done() and not future.cancelled():
                future.exception()  # seen: a failure was logged when it happened, a CloseConnection is moot
            future.cancel()
        self._pending.clear()
        self._ready.clear()
        self._frame = None
        self._head = b""
        listener.pool.forget(self, self._held)
        self._held = 0
        if self._watch_fd >= 0:
            # Our duplicate keeps the socket open: close it now, or the peer never sees the close.
            asyncio.get_running_loop().remove_writer(self._watch_fd)
            os.close(self._watch_fd)
            self._watch_fd = -1
        self.transport = None

    def pause_writing(self) -> None:
        self._write_paused = True
        self._sync_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._start_next()
        self._sync_reading()

    def get_buffer(self, sizehint: int) -> memoryview:
        frame = self._frame
        pool = self.listener.pool
        if frame is not None:
            got = self._frame_got
            capacity = min(self._frame_size, 2 * got)  # never more than twice what has arrived
            if len(frame) - got < DIRECT_READ <= capacity - got and pool.grants(self):
                frame = self._grow(frame, capacity)
            if len(frame) - got >= DIRECT_READ:
                return memoryview(frame)[got:]
        if pool.grants(self):
            return self.listener.receive_view
        return self.listener.receive_view[:MIN_FRAME_BUFFER]

    def _grow(self, frame: bytearray, capacity: int) -> bytearray:
        """The frame's buffer with room for ``capacity`` bytes: extended in place (the allocator can
        move a large buffer's pages instead of copying them) unless a view of it is still alive."""
        self._take(capacity - len(frame))
        try:
            while len(frame) < capacity:
                frame += _ZEROS[:capacity - len(frame)]
        except BufferError:
            grown = bytearray(capacity)
            grown[:self._frame_got] = memoryview(frame)[:self._frame_got]
            self._frame = frame = grown
        return frame

    def buffer_updated(self, nbytes: int) -> None:
        assert self._loop is not None
        self._last_active = self._loop.time()
        frame = self._frame
        if frame is not None and len(frame) - self._frame_got >= DIRECT_READ:  # read straight into the frame
            self._frame_got += nbytes
            if self._frame_got == self._frame_size:
                self._frame_complete(frame)
        elif not self._receive(self.listener.receive_view[:nbytes]):
            return
        if self._frame_size >= 0 and not self.listener.pool.grants(self):
            self._memory_wait = self.listener.pool.wait(self)
        self._start_next()
        self._sync_reading()

    def _receive(self, data: memoryview) -> bool:
        """Take what a read brought: complete frames to the queue, the rest into the frame being received.
        False if the connection was aborted."""
        granted = self.listener.pool.grants(self)
        position, end = 0, len(data)
        while position < end:
            if self._frame_size < 0:  # a size prefix, maybe split across reads
                need = 4 - len(self._head)
                if end - position < need:
                    self._head += data[position:end]
                    return True
                if self._head:
                    (size,) = SIZE.unpack(self._head + data[position:position + need])
                    self._head = b""
                else:
                    (size,) = SIZE.unpack_from(data, position)
                position += need
                if size < 0 or size > self.listener.max_frame:
                    log.warning("closing %s: frame of %d bytes exceeds socket.request.max.bytes (%d)",
                                self.peer, size, self.listener.max_frame)
                    self._abort()
                    return False
                if not self._authenticated and size > self.listener.max_sasl_frame:
                    log.warning("closing %s: frame of %d bytes before authentication exceeds "
                                "sasl.server.max.receive.size (%d)", self.peer, size, self.listener.max_sasl_frame)
                    self._abort()
                    return False
                if end - position >= size:  # all here: copy it out
                    self._take(size)
                    self._ready.append(bytearray(data[position:position + size]))
                    position += size
                    continue
                self._frame_size, self._frame_got = size, 0
                continue  # its buffer comes with its first bytes
            # the rest of the frame being received, or as much of it as this read brought
            size, got = self._frame_size, self._frame_got
            take = min(end - position, size - got)
            frame = self._frame
            if frame is None:
                capacity = min(size, max(MIN_FRAME_BUFFER, 2 * take)) if granted else take
                self._take(capacity)
                self._frame = frame = bytearray(capacity)
            elif len(frame) < got + take:
                frame = self._grow(frame, min(size, 2 * (got + take)) if granted else got + take)
            frame[got:got + take] = data[position:position + take]
            self._frame_got = got = got + take
            position += take
            if got == size:
                self._frame_complete(frame)
        return True

    def _frame_complete(self, frame: bytearray) -> None:
        self._ready.append(frame)
        self._frame, self._frame_size, self._frame_got = None, -1, 0
        self.listener.pool.frame_done(self)

    def _take(self, nbytes: int) -> None:
        self._held += nbytes
        self.listener.pool.take(nbytes)

    def _give(self, nbytes: int) -> None:
        self._held -= nbytes
        self.listener.pool.give(nbytes)

    def memory_freed(self) -> None:
        """The pool has memory again (or lets this connection finish its frame): read again."""
        self._memory_wait = False
        self._sync_reading()

    def _sync_reading(self) -> None:
        """Read from the socket exactly when a request could start soon: nothing waits to start, fewer
        than ``queued.max.requests`` are being handled, the client reads its responses, and memory is
        there."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        want = (self.accepting and not self._ready and not self._memory_wait and not self._write_paused
                and self._throttle is None and len(self._pending) < self.listener.max_inflight)
        if want == self._read_paused:
            self._read_paused = not want
            if want:
                transport.resume_reading()
            else:
                transport.pause_reading()

    # --- dispatch --------------------------------------------------------------------------------

    def _may_start(self) -> bool:
        return (self.accepting and not self._write_paused and self._throttle is None
                and len(self._pending) < self.listener.max_inflight and not self._closed())

    def mute_for(self, delay_ms: int) -> None:
        """A client over its quota (KIP-219): read nothing from it and start none of its requests for
        ``delay_ms`` (or longer, if it is muted for longer already); its responses still go out."""
        loop = self._loop
        if loop is None or self._closed():
            return
        until = loop.time() + delay_ms / 1000
        if self._throttle is not None:
            if self._throttle.when() >= until:
                return
            self._throttle.cancel()
        self._throttle = loop.call_at(until, self._unmute)
        self._sync_reading()

    def _unmute(self) -> None:
        self._throttle = None
        self._start_next()
        self._sync_reading()

    def _start_next(self) -> None:
        """Start the next waiting request, unless the last one started has not had its first turn of the
        loop yet (when it has, :meth:`_handle` schedules the next one behind everything else)."""
        if self._starting or self._turn is not None or not self._ready or not self._may_start():
            return
        self._dispatch(self._ready.popleft())

    def _next_turn(self) -> None:
        self._turn = None
        self._start_next()
        self._sync_reading()

    def _dispatch(self, frame: bytearray) -> None:
        size = len(frame)
        if self._raw_sasl:
            self._sasl_token(frame)
            return
        try:
            header, offset = decode_request_header(frame)
        except ProtocolError as exc:
            log.warning("closing %s: malformed request header: %s", self.peer, exc)
            self._abort()
            return
        if self.listener.new_authenticator is not None and self._in_sasl(header) and \
                self._sasl_request(header, frame, offset):
            return
        route = HANDLERS.get(header.api_key)
        if route is None or not route.min_version <= header.api_version <= route.max_version:
            if header.api_key == ApiKey.API_VERSIONS:
                self._enqueue_ready(encode_response(
                    RequestHeader(header.api_key, 0, header.correlation_id, header.client_id),
                    unsupported_version_response(),
                ), size)
                return
            log.warning("closing %s: unsupported API %s v%d", self.peer, header.api_key, header.api_version)
            self._abort()
            return
        try:
            request = decode_request(header, frame, offset)
        except ProtocolError as exc:
            log.warning("closing %s: malformed %s v%d request: %s (first bytes: %s)", self.peer,
                        route.handle.__module__.rsplit(".", 1)[-1], header.api_version, exc, bytes(frame[:64]).hex())
            self._abort()
            return
        ctx = RequestContext(header=header, services=self.services, peer=self.peer, size=size,
                             principal=self.principal, listener=self.listener.name)
        assert self._loop is not None
        task = self._loop.create_task(self._handle(route.handle, request, ctx))
        self._starting = True
        self._pending.append((task, size))
        task.add_done_callback(self._request_done)

    async def _handle(self, handle: Any, request: dict[str, Any], ctx: RequestContext) -> Chunks | None:
        self._starting = False
        if self._ready and self._turn is None:
            assert self._loop is not None
            self._turn = self._loop.call_soon(self._next_turn)
        try:
            body = await handle(request, ctx)
            if ctx.throttle_time_ms > 0:
                self.mute_for(ctx.throttle_time_ms)
        except CloseConnection as exc:
            log.info("closing %s after request %d (API %d v%d, client %.100r): %s", self.peer,
                     ctx.header.correlation_id, ctx.header.api_key, ctx.header.api_version, ctx.header.client_id, exc)
            self._stop_after(asyncio.current_task())
            raise
        except Exception:
            log.exception("handler for API %d v%d failed", ctx.header.api_key, ctx.header.api_version)
            self._abort()
            raise
        if body is None:
            return None
        chunks = encode_response(ctx.header, body)
        pending, transport = self._pending, self.transport
        if (pending and pending[0][0] is asyncio.current_task() and self._sending is None and transport is not None
                and not transport.is_closing() and not any(isinstance(chunk, FileSlice) for chunk in chunks)):
            # The oldest response, and ready: write it now rather than a turn of the loop later.
            self._give(pending.popleft()[1])
            transport.writelines(chunks)  # type: ignore[arg-type]  # no FileSlice among them
            assert self._loop is not None
            self._last_active = self._loop.time()
            return None
        return chunks

    def _enqueue_ready(self, chunks: Chunks, size: int) -> None:
        assert self._loop is not None
        future: asyncio.Future[Chunks | None] = self._loop.create_future()
        future.set_result(chunks)
        self._pending.append((future, size))
        future.add_done_callback(self._request_done)

    def _request_done(self, _future: asyncio.Future[Any]) -> None:
        if self.transport is None:
            return  # closed
        self._flush()
        self._start_next()
        self._sync_reading()

    def _stop_after(self, last: asyncio.Future[Any] | None) -> None:
        """Handle no request after ``last``: stop reading, drop the ones not started, cancel the ones
        started after it. Its response slot closes the connection when the writer reaches it."""
        self.accepting = False
        self._sync_reading()
        if self._turn is not None:
            self._turn.cancel()
            self._turn = None
        for frame in self._ready:
            self._give(len(frame))
        self._ready.clear()
        pending = self._pending
        while pending and pending[-1][0] is not last:
            future, size = pending.pop()
            future.cancel()
            self._give(size)

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # --- SASL ------------------------------------------------------------------------------------

    def _in_sasl(self, header: RequestHeader) -> bool:
        """Whether the request belongs to a SASL exchange, which the connection handles itself, in frame order:
        everything before authentication; SaslHandshake starting a re-authentication (KIP-368) and the
        SaslAuthenticate of an exchange in progress. True also for a request after the session expired."""
        if not self._authenticated:
            return True
        api = header.api_key
        if api == ApiKey.SASL_AUTHENTICATE:
            return self._auth is not None and not self._auth.complete
        if api == ApiKey.SASL_HANDSHAKE:
            return self._session_expiry is not None  # re-authentication is on (connections.max.reauth.ms)
        return self._session_expiry is not None and self._loop is not None and self._loop.time() > self._session_expiry

    def _sasl_request(self, header: RequestHeader, frame: bytearray, offset: int) -> bool:
        """Handle a request of the SASL exchange (Kafka's ``SaslServerAuthenticator``); False for one the
        handlers answer as usual (ApiVersions before authentication). Anything else before authentication, or
        after the session expired, closes the connection, as in Kafka."""
        api, size = header.api_key, len(frame)
        if api == ApiKey.API_VERSIONS and not self._authenticated:
            return False
        if api not in (ApiKey.SASL_HANDSHAKE, ApiKey.SASL_AUTHENTICATE):
            why = "its SASL session expired (connections.max.reauth.ms)" if self._authenticated else \
                "not authenticated yet"
            log.warning("closing %s: unexpected request (API %d) from a client %s", self.peer, api, why)
            self._abort()
            return True
        route = HANDLERS.get(api)
        if route is None or not route.min_version <= header.api_version <= route.max_version:
            return False  # the usual handling closes it
        try:
            request = decode_request(header, frame, offset)
        except ProtocolError as exc:
            log.warning("closing %s: malformed SASL request: %s", self.peer, exc)
            self._abort()
            return True
        if api == ApiKey.SASL_HANDSHAKE:
            self._sasl_handshake(header, request, size)
        elif self._auth is None or self._auth.complete:
            log.warning("closing %s: SaslAuthenticate before SaslHandshake", self.peer)
            self._abort()
        else:
            self._sasl_authenticate(header, request, size)
        return True

    def _sasl_handshake(self, header: RequestHeader, request: dict[str, Any], size: int) -> None:
        if self._auth is not None and not self._auth.complete:
            log.warning("closing %s: a second SaslHandshake before authenticating", self.peer)
            self._abort()
            return
        factory = self.listener.new_authenticator
        assert factory is not None
        auth = factory()
        previous = self._auth
        error, mechanisms = auth.handshake(request["mechanism"], previous=previous)
        chunks = encode_response(header, {"error_code": error, "mechanisms": mechanisms})
        if error:
            # %.100r: the name is the client's, up to sasl.server.max.receive.size; it is not logged whole
            log.info("closing %s: SASL mechanism %.100r refused (%s)", self.peer, request["mechanism"], error)
            self._answer_then_close(chunks, size, delay_s=0)
            return
        self._auth = auth
        self._raw_sasl = header.api_version == 0  # then bare tokens follow (Kafka's legacy framing)
        self._enqueue_ready(chunks, size)

    def _sasl_authenticate(self, header: RequestHeader, request: dict[str, Any], size: int) -> None:
        auth = self._auth
        assert auth is not None
        step = auth.authenticate(bytes(request["auth_bytes"]))
        body = {"error_code": step.error_code, "error_message": step.error_message, "auth_bytes": step.token,
                "session_lifetime_ms": auth.session_lifetime_ms if auth.complete else 0}
        chunks = encode_response(header, body)
        if step.error_code:
            log.info("closing %s: SASL authentication failed: %s", self.peer, step.error_message)
            self._answer_then_close(chunks, size, delay_s=self.listener.failed_auth_delay_s)
            return
        self._enqueue_ready(chunks, size)
        if auth.complete:
            self._authenticated_by(auth)

    def _sasl_token(self, frame: bytearray) -> None:
        """A bare SASL token (after SaslHandshake v0): answered with a bare token, or the connection closes."""
        auth = self._auth
        assert auth is not None
        step = auth.authenticate(bytes(frame))
        if step.error_code:
            log.info("closing %s: SASL authentication failed: %s", self.peer, step.error_message)
            self._abort()
            return
        self._enqueue_ready([SIZE.pack(len(step.token)) + step.token], len(frame))
        if auth.complete:
            self._raw_sasl = False
            self._authenticated_by(auth)

    def _authenticated_by(self, auth: Authenticator) -> None:
        assert auth.principal is not None and self._loop is not None
        self.principal = auth.principal
        self._authenticated = True
        if self._auth_timer is not None:
            self._auth_timer.cancel()
            self._auth_timer = None
        lifetime = auth.session_lifetime_ms
        self._session_expiry = self._loop.time() + lifetime / 1000 if lifetime > 0 else None

    def _answer_then_close(self, chunks: Chunks, size: int, *, delay_s: float) -> None:
        """Send ``chunks`` after ``delay_s`` (``connection.failed.authentication.delay.ms``: a client guessing
        passwords gets its answers slowly), then close; nothing after it is read or handled."""
        loop = self._loop
        assert loop is not None
        answer: asyncio.Future[Chunks | None] = loop.create_future()
        if delay_s > 0:
            loop.call_later(delay_s, _resolve_later, answer, chunks)
        else:
            answer.set_result(chunks)
        self._pending.append((answer, size))
        answer.add_done_callback(self._request_done)
        closing: asyncio.Future[Chunks | None] = loop.create_future()
        closing.set_exception(CloseConnection("authentication failed"))
        self._pending.append((closing, 0))
        closing.add_done_callback(self._request_done)
        self._stop_after(closing)

    def _check_authenticated(self) -> None:
        """``kopfka.authentication.timeout.ms`` after the connection opened: close it unless it authenticated."""
        self._auth_timer = None
        if not self._authenticated and not self._closed():
            log.info("closing %s: not authenticated within %.0f ms", self.peer, self.listener.auth_timeout_s * 1000)
            self._abort()

    def _closed(self) -> bool:
        """Whether the connection is closing or gone: asked of the transport each time, since that can
        change during any ``await``."""
        return self.transport is None or self.transport.is_closing()

    def _check_idle(self) -> None:
        """``connections.max.idle.ms``: close the connection if nothing was received or sent for that long
        and no request is pending; else look again when it could be."""
        self._idle = None
        transport, loop, idle_s = self.transport, self._loop, self.listener.idle_s
        if transport is None or transport.is_closing() or loop is None or idle_s is None:
            return
        now = loop.time()
        if self._pending or self._sending is not None:
            self._idle = loop.call_at(now + idle_s, self._check_idle)
        elif now - self._last_active < idle_s:
            self._idle = loop.call_at(self._last_active + idle_s, self._check_idle)
        else:
            log.info("closing %s: idle for longer than connections.max.idle.ms (%d)", self.peer, idle_s * 1000)
            transport.close()

    # --- writing ---------------------------------------------------------------------------------

    def _flush(self) -> None:
        """Write every response at the head of the queue that is ready, in one ``writelines``; hand a
        response with a log slice to :meth:`_send_rest`, which flushes again when it is done."""
        transport = self.transport
        if transport is None or self._sending is not None:
            return
        pending = self._pending
        out: list[bytes] = []
        while pending and pending[0][0].done():
            future, size = pending.popleft()
            self._give(size)
            if future.cancelled():
                continue
            failure = future.exception()
            if failure is not None:
                if out:
                    transport.writelines(out)
                if isinstance(failure, CloseConnection):
                    transport.close()  # after what is already buffered: the earlier responses
                return  # any other failure has aborted the connection already
            chunks = future.result()
            if chunks is None:
                continue  # acks=0: no response
            for index, chunk in enumerate(chunks):
                if isinstance(chunk, FileSlice):
                    if out:
                        transport.writelines(out)
                    assert self._loop is not None
                    self._last_active = self._loop.time()
                    self._sending = self._loop.create_task(self._send_rest(chunks[index:]))
                    self._sending.add_done_callback(self._sent)
                    return
                out.append(chunk)
        if out:
            transport.writelines(out)
            assert self._loop is not None
            self._last_active = self._loop.time()

    async def _send_rest(self, chunks: Sequence[bytes | FileSlice]) -> None:
        transport = self.transport
        assert transport is not None
        for chunk in chunks:
            if self._closed():
                return
            if isinstance(chunk, FileSlice):
                await self._send_file(chunk)
            else:
                transport.write(chunk)

    def _sent(self, task: asyncio.Task[None]) -> None:
        if self._sending is not task:
            return  # the connection is gone
        self._sending = None
        if task.cancelled():
            return
        failure = task.exception()
        if failure is not None:
            log.error("closing %s: sending a response failed", self.peer, exc_info=failure)
            self._abort()
            return
        if self._loop is not None:
            self._last_active = self._loop.time()
        self._flush()
        self._start_next()
        self._sync_reading()

    async def _send_file(self, chunk: FileSlice) -> None:
        """Send the slice whole, or abort the connection: its size is already in the frame's prefix."""
        transport = self.transport
        assert transport is not None
        if chunk.length == 0 or self._closed():
            return
        if self._tls:
            await self._send_copied(chunk)
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

    async def _send_copied(self, chunk: FileSlice) -> None:
        """The slice through the transport (TLS encrypts it), ``TLS_CHUNK`` bytes at a time from the page cache,
        waiting whenever the transport asks to pause: memory stays bounded whatever the slice's size."""
        transport, loop = self.transport, self._loop
        assert transport is not None and loop is not None
        position, remaining = chunk.position, chunk.length
        while remaining and not self._closed():
            if self._write_paused:
                self._drain = loop.create_future()
                await self._drain
                self._drain = None
                continue
            data = os.pread(chunk.fd, min(remaining, TLS_CHUNK), position)
            if not data:
                break  # end of file before the end of the slice
            transport.write(data)
            position += len(data)
            remaining -= len(data)
        self._check_sent_whole(chunk, remaining)

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


def _resolve_later(future: asyncio.Future[Chunks | None], chunks: Chunks) -> None:
    if not future.done():
        future.set_result(chunks)


async def _resolve(overrides: Mapping[str, int]) -> dict[str, int]:
    """``max.connections.per.ip.overrides`` by address: a hostname counts for each address it resolves to
    (as Kafka resolves it once, at start)."""
    loop = asyncio.get_running_loop()
    resolved: dict[str, int] = {}
    for host, count in overrides.items():
        try:
            ipaddress.ip_address(host)
        except ValueError:
            try:
                infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
            except OSError as exc:
                log.warning("max.connections.per.ip.overrides: cannot resolve %s (%s); its limit is not applied",
                            host, exc)
                continue
            for info in infos:
                resolved[_ip_key(str(info[4][0]))] = count
        else:
            resolved[_ip_key(host)] = count
    return resolved


async def start_server(services: BrokerServices, listener: ListenerConfig | None = None,
                       security: ListenerSecurity | None = None) -> asyncio.Server:
    """Listen on ``listener`` (the broker's first when not given) with its ``security`` (none when not given)."""
    loop = asyncio.get_running_loop()
    listener = listener or services.config.listeners.all[0]
    security = security or ListenerSecurity()
    settings = services.config.socket_server
    overrides = await _resolve(connection_overrides(settings.max_connections_per_ip_overrides))
    shared = Listener(services, settings, overrides=overrides, listener=listener,
                      new_authenticator=security.new_authenticator, tls_principal=security.tls_principal)
    # A TLS handshake is part of authenticating: one not done within kopfka.authentication.timeout.ms is aborted
    # (asyncio's default is 60 s, and a connection still in its handshake has no KafkaConnection yet to time it).
    handshake_timeout = shared.auth_timeout_s if security.ssl_context is not None else None
    return await loop.create_server(lambda: KafkaConnection(services, shared), listener.host or None, listener.port,
                                    reuse_address=True, backlog=1024, ssl=security.ssl_context,
                                    ssl_handshake_timeout=handshake_timeout)
