"""A raw Kafka-protocol connection for tests that must send what no client would (bad frames,
bad CRCs, unknown APIs) — built on kopfka's own codec, which has its own golden-byte tests."""

from __future__ import annotations

import socket
import struct
from typing import Any

from kafka_broker.protocol import decode_response, encode_request


class WireClient:
    def __init__(self, host: str, port: int, *, timeout: float = 60) -> None:
        # an upper bound on each answer, not an expected duration: a loaded CI machine can be slow
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.correlation_id = 0

    @classmethod
    def to(cls, bootstrap: str) -> WireClient:
        host, port = bootstrap.split(",")[0].rsplit(":", 1)
        return cls(host, int(port))

    def close(self) -> None:
        self.sock.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_frame(self) -> bytes:
        size = struct.unpack(">i", self._read_exactly(4))[0]
        return self._read_exactly(size)

    def _read_exactly(self, n: int) -> bytes:
        chunks = []
        while n:
            chunk = self.sock.recv(n)
            if not chunk:
                raise ConnectionError("closed by the broker")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def request(self, api_key: int, version: int, body: dict[str, Any]) -> dict[str, Any]:
        self.correlation_id += 1
        self.sock.sendall(encode_request(api_key, version, self.correlation_id, "wire-test", body))
        got_id, response = decode_response(api_key, version, self.read_frame())
        assert got_id == self.correlation_id
        return response

    def is_closed_by_peer(self, timeout: float = 60) -> bool:
        """True once the broker closes the connection (returns as soon as it does); False if it is still
        open after `timeout` seconds, an upper bound that a loaded machine must not reach."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
