"""A client connection from this broker to another one: one request at a time, responses read in place,
over TLS and SASL when the inter-broker listener asks for them.

Used by the replica fetcher, whose Fetch responses carry megabytes of record batches. The socket is
read with an :class:`asyncio.BufferedProtocol` straight into a response buffer the connection keeps
and reuses, so a response's bytes are never copied on their way in (asyncio's streams copy every
chunk into their own buffer and again out of it). The decoded response's byte fields are views of
that buffer: they stay valid until the next :meth:`BrokerConnection.request`.

:func:`set_socket_buffers` applies Kafka's socket buffer settings to a connection, this one's
(``replica.socket.receive.buffer.bytes``) and the listener's (``socket.send/receive.buffer.bytes``).

**Security.** With a TLS context the connection is TLS (the broker's client context for the inter-broker
listener); with a SASL client it authenticates right after connecting, before any other request:
SaslHandshake v1 naming the mechanism, then SaslAuthenticate v2 exchanges until the mechanism completes —
a refused mechanism or failed authentication is a ConnectionError naming why (and the broker retries as
after any other failed connection). When the broker bounds the session (``session_lifetime_ms``,
``connections.max.reauth.ms``), the connection is replaced by a freshly authenticated one before the session
ends (at ``REAUTH_SHARE`` of its lifetime), rather than re-authenticated in place: the broker would close it.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import ssl
import struct
from collections.abc import Callable
from typing import Any, Protocol

from kafka_broker.protocol import ApiKey, ErrorCode, decode_response, encode_request

SIZE = struct.Struct(">i")
REAUTH_SHARE = 0.85
"""Share of a SASL session's lifetime after which the next request goes over a new connection."""
MAX_RESPONSE = 1 << 30
"""Refuse a response frame larger than this (a garbled size prefix, not a real response)."""


def set_socket_buffers(transport: asyncio.BaseTransport, *, send: int = -1, receive: int = -1) -> None:
    """Kafka's ``socket.send.buffer.bytes`` / ``socket.receive.buffer.bytes``: -1 leaves the kernel's
    autotuning alone. A fixed send buffer matters for fetches: sendfile into an autotuned loopback buffer
    of megabytes cost this machine's kernel twice the CPU per byte of a 100 KB one (measured)."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    for option, size in ((socket.SO_SNDBUF, send), (socket.SO_RCVBUF, receive)):
        if size > 0:
            sock.setsockopt(socket.SOL_SOCKET, option, size)


class _ResponseProtocol(asyncio.BufferedProtocol):
    """Receives size-prefixed frames: the 4-byte size into ``_head``, then the frame into ``_frame``."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._head = bytearray(4)
        self._head_view = memoryview(self._head)
        self._head_got = 0
        self._frame = bytearray(64 * 1024)
        self._frame_view = memoryview(self._frame)
        self._size = -1  # size of the frame being received; -1 while reading its size prefix
        self._got = 0
        self._waiter: asyncio.Future[memoryview] | None = None
        self._error: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("connection closed by the peer"))

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._size < 0:
            return self._head_view[self._head_got:]
        return self._frame_view[self._got:self._size]

    def buffer_updated(self, nbytes: int) -> None:
        if self._size < 0:
            self._head_got += nbytes
            if self._head_got < 4:
                return
            self._head_got = 0
            (size,) = SIZE.unpack(self._head)
            if not 0 <= size <= MAX_RESPONSE:
                self._fail(ConnectionError(f"response frame of {size} bytes"))
                if self.transport is not None:
                    self.transport.abort()
                return
            if size > len(self._frame):
                self._frame_view.release()
                self._frame = bytearray(max(size, 2 * len(self._frame)))
                self._frame_view = memoryview(self._frame)
            self._size, self._got = size, 0
            if size:
                return
        else:
            self._got += nbytes
            if self._got < self._size:
                return
        frame = self._frame_view[:self._size]
        self._size = -1
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(frame)

    def expect(self) -> asyncio.Future[memoryview]:
        """A future for the next frame. The previous frame's buffer is reused from here on."""
        if self._error is not None:
            raise ConnectionError(str(self._error)) from self._error
        self._waiter = asyncio.get_running_loop().create_future()
        return self._waiter

    def _fail(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionError(str(exc)))


class SaslClient(Protocol):
    """The client side of one SASL exchange (:mod:`kafka_broker.security.scram`, :mod:`~.plain`)."""

    @property
    def mechanism(self) -> str: ...

    @property
    def complete(self) -> bool: ...

    def first_message(self) -> bytes: ...

    def evaluate(self, challenge: bytes) -> bytes: ...


class BrokerConnection:
    """Request/response toward one broker, connected on first use, one request in flight."""

    def __init__(
        self, host: str, port: int, client_id: str, *, connect_timeout: float = 5.0, receive_buffer: int = -1,
        tls: ssl.SSLContext | None = None, sasl: Callable[[], SaslClient] | None = None,
    ) -> None:
        self.host, self.port, self.client_id = host, port, client_id
        self.connect_timeout = connect_timeout
        self.receive_buffer = receive_buffer
        """SO_RCVBUF in bytes (``replica.socket.receive.buffer.bytes``); -1 leaves the kernel's autotuning."""
        self.tls = tls
        self.sasl = sasl
        """Makes the SASL client of a new connection; None: no SASL."""
        self._protocol: _ResponseProtocol | None = None
        self._ids = itertools.count(1)
        self._session_end: float | None = None  # loop time after which the SASL session is renewed

    async def request(self, api_key: int, version: int, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one request and decode its response; raises ConnectionError or TimeoutError (and the
        connection is closed) when the broker does not answer properly within ``timeout`` seconds."""
        protocol = self._protocol
        if self._session_end is not None and asyncio.get_running_loop().time() > self._session_end:
            self.close()  # the session is about to end: a new connection, authenticated afresh
            protocol = None
        if protocol is None or protocol.transport is None or protocol.transport.is_closing():
            protocol = await self._connect()
        correlation_id = next(self._ids)
        frame = protocol.expect()
        assert protocol.transport is not None
        protocol.transport.write(encode_request(api_key, version, correlation_id, self.client_id, body))
        try:
            view = await asyncio.wait_for(frame, timeout)
        except BaseException:
            self.close()
            raise
        got_id, response = decode_response(api_key, version, view)
        if got_id != correlation_id:
            self.close()
            raise ConnectionError(f"correlation id {got_id} != {correlation_id}")
        return response

    async def _connect(self) -> _ResponseProtocol:
        self.close()
        loop = asyncio.get_running_loop()
        transport, protocol = await asyncio.wait_for(
            loop.create_connection(_ResponseProtocol, self.host, self.port, ssl=self.tls,
                                   server_hostname=self.host if self.tls is not None else None),
            timeout=self.connect_timeout)
        set_socket_buffers(transport, receive=self.receive_buffer)
        self._protocol = protocol
        if self.sasl is not None:
            try:
                await self._authenticate(self.sasl())
            except BaseException:
                self.close()
                raise
        return protocol

    async def _authenticate(self, client: SaslClient) -> None:
        timeout = self.connect_timeout
        answer = await self.request(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": client.mechanism}, timeout)
        if answer["error_code"] != ErrorCode.NONE:
            raise ConnectionError(f"SASL mechanism {client.mechanism} refused by {self.host}:{self.port} "
                                  f"({ErrorCode(answer['error_code']).name}; it has {answer['mechanisms']})")
        token = client.first_message()
        while True:
            answer = await self.request(ApiKey.SASL_AUTHENTICATE, 2, {"auth_bytes": token}, timeout)
            if answer["error_code"] != ErrorCode.NONE:
                raise ConnectionError(f"SASL authentication to {self.host}:{self.port} failed: "
                                      f"{answer['error_message']}")
            lifetime_ms = answer.get("session_lifetime_ms", 0)
            if lifetime_ms > 0:
                self._session_end = asyncio.get_running_loop().time() + REAUTH_SHARE * lifetime_ms / 1000
            if client.complete:
                return
            token = client.evaluate(bytes(answer["auth_bytes"]))
            if not token:  # the server's last message checked: done
                return

    def close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None
        self._session_end = None
