"""Before a client is trusted — its TLS handshake, its SASL exchange — whatever it sends closes its own connection
and nothing else.

Against one real broker process (module-scoped) with four listeners — ``PLAIN`` (PLAINTEXT, between brokers),
``SASLP`` (SASL_PLAINTEXT) and ``SASLS`` (SASL_SSL), both with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512, and ``TLS``
(SSL) — ``kopfka.authentication.timeout.ms`` at 3 s, and the witness (an idempotent acks=all producer) writing over
SASL_SSL with SCRAM-SHA-512 throughout (checked at the end: nothing it was told was stored is lost):

- **malformed SaslHandshake and SaslAuthenticate bodies** (truncated, null, over-long or negative lengths, broken
  varints, unsupported versions) close the connection unanswered; a mechanism the listener does not enable —
  invalid UTF-8 or 30,000 characters of it — is answered UNSUPPORTED_SASL_MECHANISM, then the connection closes;
- **garbage SASL tokens** — random bytes, tokens as large as ``sasl.server.max.receive.size`` allows, invalid
  UTF-8, SCRAM messages missing fields or with bad escapes, base64, nonces, channel bindings or proofs, PLAIN
  tokens with the wrong number of parts — are answered SASL_AUTHENTICATION_FAILED with Kafka's message, then the
  connection closes (a SCRAM message over 8 KiB, ``MAX_CLIENT_MESSAGE``, is refused unparsed: parsing one of
  512 KiB cost the broker over 100 MiB); one byte over ``sasl.server.max.receive.size`` closes it unanswered;
- **out of order**: SaslAuthenticate before SaslHandshake, a second SaslHandshake or another API in the middle of
  an exchange, garbage bare tokens after a v0 SaslHandshake (Kafka's legacy framing) close the connection;
- **TLS garbage**: random bytes or a Kafka request instead of a ClientHello close the connection at once; a
  truncated ClientHello, or a handshake the client never finishes, within ``kopfka.authentication.timeout.ms``;
  bytes that are not TLS records after a handshake close it; a ClientHello sent to the PLAINTEXT and
  SASL_PLAINTEXT listeners reads as a frame over the size limit and closes it;
- **floods**: hundreds of connections that never finish their TLS handshake, or never authenticate, are all closed
  within the authentication timeout (plus slack for a loaded machine), costing bounded memory; hundreds of failed
  logins (wrong passwords, unknown users; one after another and all at once) are each refused after
  ``connection.failed.authentication.delay.ms``, while a client with the right password keeps being served.

After every attack (:meth:`Broker.attack`): the broker is alive; its log since the attack began has only records
below ERROR, one a line — no traceback, no line break a client smuggled into a message — none longer than
``LONGEST_LOG_LINE`` (what a client sends is never logged whole); a fresh client
authenticates and is served on every listener; the witness keeps being acknowledged; confluent-kafka consumers read
its latest records over SSL and SASL_PLAINTEXT; the broker's peak RSS during the attack stayed within the attack's
stated cost plus ``NOISE`` of where it began, and once the connections are closed its RSS is back within ``NOISE``.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import selectors
import socket
import ssl
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from tests.brokers import ClusterFactory
from tests.certs import CertificateAuthority
from tests.hostile.witness import Witness
from tests.integration.admin import create_topic
from tests.scram_users import scram_users
from tests.waiting import wait_for

from kafka_broker.local import LocalCluster
from kafka_broker.local.processes import free_port
from kafka_broker.protocol import ApiKey, ErrorCode, decode_response, encode_request
from kafka_broker.security.plain import initial_response
from kafka_broker.security.scram import MAX_CLIENT_MESSAGE, ScramClient

pytestmark = pytest.mark.hostile

MiB = 1024 * 1024
NOISE = 24 * MiB
"""What an attack may cost beyond its own bound: the witness, logging, allocator slack."""
AUTH_TIMEOUT_MS = 3000
SLACK = 20.0
"""Seconds a loaded machine may add to the authentication timeout before a connection is seen closed (still far
below asyncio's default TLS handshake timeout of 60 s)."""
MAX_RECEIVE = 524_288
"""``sasl.server.max.receive.size`` (Kafka's default): the largest frame before authentication."""
FAILED_DELAY_S = 0.1
"""``connection.failed.authentication.delay.ms`` (Kafka's default, 100 ms)."""
LONGEST_LOG_LINE = 2000
LOG_RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING) \[")
"""The start of every line the broker may log while attacked: a record below ERROR."""
TOPIC = "witness"
FLOOD = 300

PLAIN, SASLP, SASLS, TLS = "PLAIN", "SASLP", "SASLS", "TLS"
SASL_LISTENERS = (SASLP, SASLS)
TLS_LISTENERS = (SASLS, TLS)
USERS = {"alice": "alice-secret"}
PLAIN_USERS = {"bob": "bob-secret"}
PLAIN_JAAS = ("org.apache.kafka.common.security.plain.PlainLoginModule required "
              + " ".join(f'user_{u}="{p}"' for u, p in PLAIN_USERS.items()) + ";")
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
PROOF_SIZE = {"SCRAM-SHA-256": 32, "SCRAM-SHA-512": 64}
MECHANISMS = ("PLAIN", *SCRAM_MECHANISMS)
METADATA = {"topics": None, "allow_auto_topic_creation": False, "include_topic_authorized_operations": False}
HEADER = struct.Struct(">hhih")
SIZE = struct.Struct(">i")


def invalid_credentials(mechanism: str) -> str:
    """What Kafka tells a client for every SCRAM failure it does not word itself."""
    return f"Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}"


# --- raw connections --------------------------------------------------------------------------------------------


def request_frame(api: int, version: int, body: bytes, *, flexible: bool = False) -> bytes:
    """A request frame with a well-formed header and ``body`` as given (header v2 when ``flexible``)."""
    client_id = b"hostile"
    payload = HEADER.pack(api, version, 1, len(client_id)) + client_id + (b"\0" if flexible else b"") + body
    return SIZE.pack(len(payload)) + payload


def authenticate_frame(token: bytes, *, version: int = 2) -> bytes:
    return encode_request(ApiKey.SASL_AUTHENTICATE, version, 1, "hostile", {"auth_bytes": token})


_OVERHEAD = len(authenticate_frame(b"x" * MAX_RECEIVE)) - 4 - MAX_RECEIVE
MAX_TOKEN = MAX_RECEIVE - _OVERHEAD
"""The largest SASL token whose SaslAuthenticate (v2) frame fits in ``MAX_RECEIVE``."""


class Connection:
    """A raw connection to one listener (TLS-wrapped on the TLS ones), speaking Kafka's framing by hand."""

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext | None, *, timeout: float = 30) -> None:
        sock = socket.create_connection(address, timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock: socket.socket = context.wrap_socket(sock, server_hostname="localhost") if context else sock
        self.correlation_id = 0

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def offer(self, data: bytes) -> None:
        """Send ``data``, or as much of it as the broker reads before it closes the connection."""
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.sock.sendall(data)

    def frame(self) -> bytes:
        (size,) = SIZE.unpack(self._exactly(4))
        return self._exactly(size)

    def _exactly(self, n: int) -> bytes:
        data = bytearray()
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError(f"closed by the broker after {len(data)} of {n} bytes")
            data += chunk
        return bytes(data)

    def call(self, api: int, version: int, body: dict[str, Any]) -> dict[str, Any]:
        self.correlation_id += 1
        self.send(encode_request(api, version, self.correlation_id, "hostile", body))
        correlation_id, response = decode_response(api, version, self.frame())
        assert correlation_id == self.correlation_id
        return response

    def handshake(self, mechanism: str, *, version: int = 1) -> dict[str, Any]:
        return self.call(ApiKey.SASL_HANDSHAKE, version, {"mechanism": mechanism})

    def authenticate(self, token: bytes, *, version: int = 2) -> dict[str, Any]:
        return self.call(ApiKey.SASL_AUTHENTICATE, version, {"auth_bytes": token})

    def rest(self, timeout: float = 30) -> bytes:
        """Everything the broker sends until it closes the connection; fails if it is open after ``timeout``."""
        self.sock.settimeout(timeout)
        received = bytearray()
        try:
            while chunk := self.sock.recv(65536):
                received += chunk
        except TimeoutError:
            raise AssertionError(f"the connection is still open after {timeout} s") from None
        except (ConnectionResetError, ssl.SSLError):
            pass  # closed (an aborted TLS connection ends without close_notify)
        return bytes(received)

    def closed_unanswered(self) -> None:
        received = self.rest()
        assert received == b"", f"the broker answered {received[:64]!r} before closing"


def split_frames(data: bytes) -> list[bytes]:
    """The frames (without size prefixes) ``data`` holds, which must end with a whole one."""
    frames, position = [], 0
    while position < len(data):
        (size,) = SIZE.unpack_from(data, position)
        frames.append(data[position + 4:position + 4 + size])
        position += 4 + size
    assert position == len(data), f"{len(data) - position + 4 + size} bytes of a frame are missing"
    return frames


def login(conn: Connection, mechanism: str, user: str, password: str) -> dict[str, Any]:
    """Authenticate with SaslHandshake v1 and SaslAuthenticate v2; the last SaslAuthenticate answer."""
    answer = conn.handshake(mechanism)
    assert answer["error_code"] == ErrorCode.NONE, answer
    if mechanism == "PLAIN":
        return conn.authenticate(initial_response(username=user, password=password))
    client = ScramClient(mechanism, username=user, password=password)
    first = conn.authenticate(client.first_message())
    if first["error_code"]:
        return first
    final = conn.authenticate(client.evaluate(first["auth_bytes"]))
    if final["error_code"] == ErrorCode.NONE:
        client.evaluate(final["auth_bytes"])
    return final


class TlsClient:
    """A TLS client driven by hand over a raw socket (``ssl.MemoryBIO``), so that a test can stop its handshake
    anywhere, or send bytes that are not TLS records once it is done."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")

    def client_hello(self) -> bytes:
        with contextlib.suppress(ssl.SSLWantReadError):
            self.tls.do_handshake()
        return self.outgoing.read()

    def handshake(self, sock: socket.socket) -> None:
        while True:
            try:
                self.tls.do_handshake()
            except ssl.SSLWantReadError:
                sock.sendall(self.outgoing.read())
                data = sock.recv(65536)
                if not data:
                    raise ConnectionError("closed during the TLS handshake") from None
                self.incoming.write(data)
                continue
            sock.sendall(self.outgoing.read())
            return

    def wrap(self, data: bytes) -> bytes:
        """``data`` as TLS records."""
        self.tls.write(data)
        return self.outgoing.read()


def closed_within(socks: dict[socket.socket, float], *, timeout: float) -> list[float]:
    """Seconds from each socket's opening (the values) until the broker closed it (whatever it sent first is read
    and dropped); fails naming how many are still open once ``timeout`` seconds have passed since the last one
    opened."""
    selector = selectors.DefaultSelector()
    for sock in socks:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, sock)
    closed: dict[socket.socket, float] = {}
    deadline = max(socks.values()) + timeout
    try:
        while len(closed) < len(socks):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{len(socks) - len(closed)} of {len(socks)} connections still open"
            for key, _ in selector.select(remaining):
                sock = key.data
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    data = b""
                if not data:
                    closed[sock] = time.monotonic() - socks[sock]
                    selector.unregister(sock)
    finally:
        selector.close()
    return [closed[sock] for sock in socks]


# --- the broker ----------------------------------------------------------------------------------------------------


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _mib(n: int) -> str:
    return f"{n / MiB:.0f} MiB"


@dataclass
class Broker:
    cluster: LocalCluster
    pid: int
    ports: dict[str, int]
    folder: Path
    witness: Witness | None = None

    @property
    def ca_file(self) -> str:
        return str(self.folder / "ca.pem")

    def address(self, listener: str) -> tuple[str, int]:
        return "127.0.0.1", self.ports[listener]

    def bootstrap(self, listener: str) -> str:
        return f"127.0.0.1:{self.ports[listener]}"

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def connect(self, listener: str) -> Connection:
        return Connection(self.address(listener), self.tls_context() if listener in TLS_LISTENERS else None)

    def raw(self, listener: str) -> socket.socket:
        sock = socket.create_connection(self.address(listener), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def client_config(self, listener: str) -> dict[str, str]:
        """librdkafka's settings for a listener (the SASL ones as alice with SCRAM-SHA-512, or bob with PLAIN)."""
        config = {"bootstrap.servers": self.bootstrap(listener)}
        if listener in TLS_LISTENERS:
            config["ssl.ca.location"] = self.ca_file
        if listener == TLS:
            config["security.protocol"] = "SSL"
        elif listener == SASLS:
            config.update({"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
                           "sasl.username": "alice", "sasl.password": USERS["alice"]})
        elif listener == SASLP:
            config.update({"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                           "sasl.username": "bob", "sasl.password": PLAIN_USERS["bob"]})
        return config

    # --- health ---

    def rss(self) -> int:
        return _status(self.pid, "VmRSS")

    def peak(self) -> int:
        return _status(self.pid, "VmHWM")

    def served(self, listener: str) -> None:
        """A new connection to ``listener`` authenticates (SCRAM-SHA-512 as alice on the SASL ones) and is served."""
        with self.connect(listener) as conn:
            if listener in SASL_LISTENERS:
                answer = login(conn, "SCRAM-SHA-512", "alice", USERS["alice"])
                assert answer["error_code"] == ErrorCode.NONE, answer
            assert conn.call(ApiKey.METADATA, 12, METADATA)["brokers"]

    def served_everywhere(self) -> None:
        for listener in self.ports:
            self.served(listener)

    def read_latest(self, listener: str, count: int = 5) -> None:
        """A confluent-kafka consumer on ``listener`` reads the witness's latest ``count`` records."""
        consumer = Consumer({**self.client_config(listener), "group.id": f"tail-{uuid.uuid4().hex[:6]}",
                             "enable.auto.commit": False})
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=30)
            assert high - low >= count, (low, high)
            consumer.assign([TopicPartition(TOPIC, 0, high - count)])
            read = 0
            deadline = time.monotonic() + 60
            while read < count:
                assert time.monotonic() < deadline, f"read {read} of {count} records over {listener}"
                message = consumer.poll(0.5)
                if message is not None:
                    assert message.error() is None, message.error()
                    read += 1
        finally:
            consumer.close()

    def log_problems(self, start: int) -> list[str]:
        """Lines of the broker's log from byte ``start`` on that a hostile client must never cause: errors, lines
        that are not log records (a traceback's, or a line break the client smuggled into a message) and lines
        longer than ``LONGEST_LOG_LINE`` (a client's bytes logged whole)."""
        with self.cluster.log_path(1).open("rb") as f:
            f.seek(start)
            text = f.read().decode("utf-8", "replace")
        return [line[:300] for line in text.split("\n")[:-1]
                if not LOG_RECORD.match(line) or len(line) > LONGEST_LOG_LINE]

    @contextlib.contextmanager
    def attack(self, what: str, *, costs: int = 0) -> Iterator[None]:
        """Around an attack (whose connections are closed by the end of the block): afterwards the broker is
        alive, its log clean, every listener serves, the witness flows and its records are read over SSL and
        SASL_PLAINTEXT; its peak RSS grew by at most ``costs`` + NOISE and its RSS is back within NOISE."""
        assert self.witness is not None
        self.served_everywhere()
        log_start = self.cluster.log_path(1).stat().st_size
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # reset the peak
        before = self.rss()
        yield
        peak = self.peak()
        assert self.cluster.exit_status(1) is None, f"the broker died during {what}"
        self.served_everywhere()
        self.witness.wait_acknowledged(20)
        for listener in (TLS, SASLP):
            self.read_latest(listener)
        problems = self.log_problems(log_start)
        assert not problems, f"{what}: the broker logged\n" + "\n".join(problems[:20])
        assert peak - before <= costs + NOISE, (f"{what} took the broker from {_mib(before)} to {_mib(peak)} "
                                                f"(allowed: {_mib(costs)} + {_mib(NOISE)})")
        wait_for(lambda: self.rss() - before <= NOISE, timeout=30,
                 what=f"the broker's memory back from {_mib(self.rss())} to within {_mib(NOISE)} of {_mib(before)}")


write_scram_users = scram_users(USERS, SCRAM_MECHANISMS)


@pytest.fixture(scope="module")
def broker(module_cluster_factory: ClusterFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    folder = tmp_path_factory.mktemp("tls")
    ca = CertificateAuthority()
    ca.write_pem(folder / "ca.pem")
    ca.server(dns=["localhost"], ips=["127.0.0.1"]).write_pem(folder / "broker.pem")
    ports = {name: free_port("127.0.0.1") for name in (PLAIN, SASLP, SASLS, TLS)}
    listeners = ",".join(f"{name}://127.0.0.1:{port}" for name, port in ports.items())
    overrides = {
        "listeners": listeners, "advertised.listeners": listeners,
        "listener.security.protocol.map": f"{PLAIN}:PLAINTEXT,{SASLP}:SASL_PLAINTEXT,{SASLS}:SASL_SSL,{TLS}:SSL",
        "inter.broker.listener.name": PLAIN,
        "sasl.enabled.mechanisms": ",".join(MECHANISMS),
        **{f"listener.name.{name.lower()}.plain.sasl.jaas.config": PLAIN_JAAS for name in SASL_LISTENERS},
        "ssl.keystore.type": "PEM", "ssl.keystore.location": str(folder / "broker.pem"),
        "kopfka.authentication.timeout.ms": str(AUTH_TIMEOUT_MS),
    }
    cluster = module_cluster_factory(brokers=1, overrides=overrides, before_start=write_scram_users)
    broker = Broker(cluster, int(cluster.pid_path(1).read_text()), ports, folder)
    create_topic(broker.bootstrap(PLAIN), TOPIC, partitions=1)
    witness = Witness(broker.bootstrap(SASLS), TOPIC, partitions=[0], rate=100, config=broker.client_config(SASLS))
    with witness:
        witness.wait_acknowledged(20)
        broker.witness = witness
        yield broker
        witness.wait_acknowledged(20)
    assert witness.verify().acknowledged > 0


# --- malformed requests --------------------------------------------------------------------------------------------

MALFORMED_HANDSHAKES = {
    "no body": request_frame(ApiKey.SASL_HANDSHAKE, 1, b""),
    "truncated mechanism": request_frame(ApiKey.SASL_HANDSHAKE, 1, struct.pack(">h", 10) + b"PLA"),
    "mechanism longer than the frame": request_frame(ApiKey.SASL_HANDSHAKE, 1, struct.pack(">h", 32767) + b"x" * 10),
    "null mechanism": request_frame(ApiKey.SASL_HANDSHAKE, 1, struct.pack(">h", -1)),
    "negative length": request_frame(ApiKey.SASL_HANDSHAKE, 0, struct.pack(">h", -2) + b"PLAIN"),
    "unsupported version": request_frame(ApiKey.SASL_HANDSHAKE, 2, struct.pack(">h", 5) + b"PLAIN"),
    "header only, half a size": SIZE.pack(12) + HEADER.pack(ApiKey.SASL_HANDSHAKE, 1, 1, 200)[:10] + b"\0\0",
}


@pytest.mark.parametrize("listener", SASL_LISTENERS)
def test_malformed_sasl_handshakes_close_the_connection(broker: Broker, listener: str) -> None:
    with broker.attack(f"malformed SaslHandshakes on {listener}"):
        for name, frame in MALFORMED_HANDSHAKES.items():
            with broker.connect(listener) as conn:
                conn.offer(frame)
                try:
                    conn.closed_unanswered()
                except AssertionError as exc:
                    raise AssertionError(f"{name}: {exc}") from None
        for mechanism in ("GSSAPI", "OAUTHBEARER", "", "plain", b"\xff\xfe\xfd".decode("latin-1"), "M" * 30_000):
            with broker.connect(listener) as conn:
                answer = conn.handshake(mechanism)
                assert answer["error_code"] == ErrorCode.UNSUPPORTED_SASL_MECHANISM, answer
                assert answer["mechanisms"] == list(MECHANISMS)
                conn.closed_unanswered()
        with broker.connect(listener) as conn:  # invalid UTF-8, byte for byte
            conn.send(request_frame(ApiKey.SASL_HANDSHAKE, 1, struct.pack(">h", 3) + b"\xff\xfe\xfd"))
            _, answer = decode_response(ApiKey.SASL_HANDSHAKE, 1, conn.frame())
            assert answer["error_code"] == ErrorCode.UNSUPPORTED_SASL_MECHANISM, answer
            conn.closed_unanswered()


MALFORMED_AUTHENTICATES = {
    "no body (v2)": request_frame(ApiKey.SASL_AUTHENTICATE, 2, b"", flexible=True),
    "no body (v0)": request_frame(ApiKey.SASL_AUTHENTICATE, 0, b""),
    "truncated bytes (v0)": request_frame(ApiKey.SASL_AUTHENTICATE, 0, struct.pack(">i", 100) + b"n,,"),
    "null bytes (v1)": request_frame(ApiKey.SASL_AUTHENTICATE, 1, struct.pack(">i", -1)),
    "2 GiB of bytes announced (v1)": request_frame(ApiKey.SASL_AUTHENTICATE, 1, struct.pack(">i", 2**31 - 1) + b"x"),
    "null compact bytes (v2)": request_frame(ApiKey.SASL_AUTHENTICATE, 2, b"\0\0", flexible=True),
    "huge varint length (v2)": request_frame(ApiKey.SASL_AUTHENTICATE, 2, b"\xff\xff\xff\xff\x0f" + b"x" * 8,
                                             flexible=True),
    "overlong varint (v2)": request_frame(ApiKey.SASL_AUTHENTICATE, 2, b"\x80" * 12 + b"\x01", flexible=True),
    "no tagged fields (v2)": request_frame(ApiKey.SASL_AUTHENTICATE, 2, b"\x04n,,", flexible=True),
    "a tagged field longer than the frame (v2)": request_frame(ApiKey.SASL_AUTHENTICATE, 2,
                                                               b"\x04n,,\x01\x00\xff\xff\x03", flexible=True),
    "unsupported version": request_frame(ApiKey.SASL_AUTHENTICATE, 3, b"\x04n,,\0", flexible=True),
    "one byte over sasl.server.max.receive.size": authenticate_frame(b"x" * (MAX_TOKEN + 1)),
    "a frame of 100 MiB announced": SIZE.pack(100 * MiB) + b"x" * 1000,
}


@pytest.mark.parametrize("listener", SASL_LISTENERS)
def test_malformed_sasl_authenticates_close_the_connection(broker: Broker, listener: str) -> None:
    with broker.attack(f"malformed SaslAuthenticates on {listener}"):
        for name, frame in MALFORMED_AUTHENTICATES.items():
            with broker.connect(listener) as conn:
                assert conn.handshake("SCRAM-SHA-256")["error_code"] == ErrorCode.NONE
                conn.offer(frame)
                try:
                    conn.closed_unanswered()
                except AssertionError as exc:
                    raise AssertionError(f"{name}: {exc}") from None


# --- garbage tokens ------------------------------------------------------------------------------------------------


def _client_firsts() -> dict[str, bytes]:
    return {
        "random bytes": os.urandom(1000),
        "as many random bytes as fit": os.urandom(MAX_TOKEN),
        "empty": b"",
        "invalid UTF-8": b"n,,n=alice,r=abc\xff\xfe",
        "a lone continuation byte": b"\xc3\x28",
        "no user": b"n,,r=abc",
        "no nonce": b"n,,n=alice",
        "empty nonce": b"n,,n=alice,r=",
        "channel binding required": b"y,,n=alice,r=abc",
        "channel binding named": b"p=tls-unique,,n=alice,r=abc",
        "a bad escape in the user name": b"n,,n=al=ice,r=abc",
        "an unknown user": b"n,,n=nobody,r=abc",
        "a delegation token": b"n,,n=alice,r=abc,tokenauth=true",
        "a trailing comma": b"n,,n=alice,r=abc,",
        "a NUL in the nonce": b"n,,n=alice,r=a\0b",
        "a forged log line": b"n,,n=alice,r=abc\n2026-01-01 00:00:00,000 ERROR [kafka_broker.server] forged",
        "a huge user name": b"n,,n=" + b"a" * (MAX_TOKEN - 16) + b",r=abc",
        "a huge authorization id": b"n,a=" + b"a" * (MAX_TOKEN - 32) + b",n=alice,r=abc",
        "a huge nonce": b"n,,n=alice,r=" + b"x" * (MAX_TOKEN - 16),
        "a huge extension": b"n,,n=alice,r=abc,x=" + b"y" * (MAX_TOKEN - 32),
        "many extensions": b"n,,n=alice,r=abc" + b",x=y" * (MAX_TOKEN // 4 - 8),
        "one byte over the longest message parsed": b"n,,n=alice,r=" + b"x" * (MAX_CLIENT_MESSAGE - 12),
        "a thousand extensions without values": b"n,,n=alice,r=abc" + b",x=" * 1000,
    }


CLIENT_FINALS: dict[str, Callable[[str, str], bytes]] = {
    # case → (the combined nonce, a random proof of the right length) → the client-final token
    "random bytes": lambda nonce, proof: os.urandom(1000),
    "as many random bytes as fit": lambda nonce, proof: os.urandom(MAX_TOKEN),
    "empty": lambda nonce, proof: b"",
    "no proof": lambda nonce, proof: f"c=biws,r={nonce}".encode(),
    "a proof that is not base64": lambda nonce, proof: f"c=biws,r={nonce},p=!!!!".encode(),
    "a proof too short": lambda nonce, proof: f"c=biws,r={nonce},p=AAAA".encode(),
    "a wrong proof": lambda nonce, proof: f"c=biws,r={nonce},p={proof}".encode(),
    "another nonce": lambda nonce, proof: f"c=biws,r=abc,p={proof}".encode(),
    "a channel binding that is not the header": lambda nonce, proof: f"c=eSws,r={nonce},p={proof}".encode(),
    "invalid UTF-8": lambda nonce, proof: f"c=biws,r={nonce}".encode() + b"\xff,p=" + proof.encode(),
    "a huge extension": lambda nonce, proof: (f"c=biws,r={nonce},x=".encode() + b"y" * (MAX_TOKEN - len(nonce) - 200)
                                              + f",p={proof}".encode()),
    "many extensions": lambda nonce, proof: (f"c=biws,r={nonce}".encode()
                                             + b",x=y" * ((MAX_TOKEN - len(nonce)) // 4 - 50) + f",p={proof}".encode()),
    "the client-first again": lambda nonce, proof: f"n,,n=alice,r={nonce}".encode(),
}


def _refused(conn: Connection, token: bytes, mechanism: str, case: str) -> None:
    answer = conn.authenticate(token)
    assert answer["error_code"] == ErrorCode.SASL_AUTHENTICATION_FAILED, f"{case}: {answer}"
    if mechanism != "PLAIN" and "authorization id" not in (answer["error_message"] or ""):
        assert answer["error_message"] == invalid_credentials(mechanism), f"{case}: {answer['error_message']}"
    assert answer["auth_bytes"] == b""
    conn.closed_unanswered()


@pytest.mark.parametrize("mechanism", SCRAM_MECHANISMS)
@pytest.mark.parametrize("listener", SASL_LISTENERS)
def test_garbage_scram_tokens_are_refused(broker: Broker, listener: str, mechanism: str) -> None:
    with broker.attack(f"garbage {mechanism} tokens on {listener}", costs=4 * MAX_RECEIVE):
        for case, token in _client_firsts().items():
            with broker.connect(listener) as conn:
                assert conn.handshake(mechanism)["error_code"] == ErrorCode.NONE
                _refused(conn, token, mechanism, f"client-first: {case}")
        with broker.connect(listener) as conn:  # an authorization id that is not the user: Kafka's own message
            assert conn.handshake(mechanism)["error_code"] == ErrorCode.NONE
            answer = conn.authenticate(b"n,a=bob,n=alice,r=abc")
            assert answer["error_message"] == ("Authentication failed: Client requested an authorization id that "
                                               "is different from username"), answer
            conn.closed_unanswered()
        firsts = {  # well-formed, so answered with a server-first
            "a short nonce": ("abc", ""),
            "the longest message parsed": ("x" * (MAX_CLIENT_MESSAGE - 13), ""),
            "an extension": ("abc", ",x=" + "y" * 1000),  # accepted and ignored, as Kafka does
        }
        for first_case, (nonce, extension) in firsts.items():
            for case, make in CLIENT_FINALS.items():
                with broker.connect(listener) as conn:
                    assert conn.handshake(mechanism)["error_code"] == ErrorCode.NONE
                    first = conn.authenticate(f"n,,n=alice,r={nonce}{extension}".encode())
                    assert first["error_code"] == ErrorCode.NONE, first
                    combined = bytes(first["auth_bytes"]).decode().split(",")[0][2:]
                    assert combined.startswith(nonce)
                    token = make(combined, base64.b64encode(os.urandom(PROOF_SIZE[mechanism])).decode())
                    _refused(conn, token, mechanism, f"client-final after {first_case}: {case}")


PLAIN_TOKENS = {
    "random bytes": (os.urandom(1000), None),
    "as many random bytes as fit": (os.urandom(MAX_TOKEN), None),
    "empty": (b"", "Invalid SASL/PLAIN response: expected 3 tokens, got 1"),
    "no NUL": (b"bob", "Invalid SASL/PLAIN response: expected 3 tokens, got 1"),
    "four parts": (b"\0bob\0bob-secret\0more", "Invalid SASL/PLAIN response: expected 3 tokens, got 4"),
    "no user": (b"\0\0bob-secret", "Authentication failed: username not specified"),
    "no password": (b"\0bob\0", "Authentication failed: password not specified"),
    "invalid UTF-8": (b"\0\xff\xfe\0bob-secret", "Authentication failed: Invalid username or password"),
    "another authorization id": (b"carol\0bob\0bob-secret", "Authentication failed: Client requested an "
                                                            "authorization id that is different from username"),
    "a huge user name": (b"\0" + b"u" * (MAX_TOKEN - 16) + b"\0pw", "Authentication failed: Invalid username or "
                                                                    "password"),
}


@pytest.mark.parametrize("listener", SASL_LISTENERS)
def test_garbage_plain_tokens_are_refused(broker: Broker, listener: str) -> None:
    with broker.attack(f"garbage PLAIN tokens on {listener}", costs=4 * MAX_RECEIVE):
        for case, (token, message) in PLAIN_TOKENS.items():
            with broker.connect(listener) as conn:
                assert conn.handshake("PLAIN")["error_code"] == ErrorCode.NONE
                answer = conn.authenticate(token)
                assert answer["error_code"] == ErrorCode.SASL_AUTHENTICATION_FAILED, f"{case}: {answer}"
                if message is not None:
                    assert answer["error_message"] == message, f"{case}: {answer['error_message']}"
                conn.closed_unanswered()


# --- out of order -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("listener", SASL_LISTENERS)
def test_garbage_bare_tokens_after_a_v0_handshake_close_the_connection(broker: Broker, listener: str) -> None:
    """After SaslHandshake v0 frames are bare tokens (Kafka's legacy framing): a bad one closes the connection
    unanswered, as Kafka does."""
    api_versions = encode_request(ApiKey.API_VERSIONS, 3, 1, "hostile", {"client_software_name": "h",
                                                                          "client_software_version": "1"})
    tokens = {
        "random bytes": SIZE.pack(1000) + os.urandom(1000),
        "as many random bytes as fit": SIZE.pack(MAX_RECEIVE) + os.urandom(MAX_RECEIVE),
        "a token of 2 GiB announced": SIZE.pack(2**31 - 1) + os.urandom(100),
        "an empty token": SIZE.pack(0),
        "a Kafka request": api_versions,
        "a SaslAuthenticate request": authenticate_frame(b"n,,n=alice,r=abc"),
        "one byte over sasl.server.max.receive.size": SIZE.pack(MAX_RECEIVE + 1) + b"x" * 100,
        "a negative size": SIZE.pack(-5) + b"x" * 100,
    }
    with broker.attack(f"garbage bare tokens on {listener}", costs=4 * MAX_RECEIVE):
        for mechanism in MECHANISMS:
            for case, frame in tokens.items():
                with broker.connect(listener) as conn:
                    assert conn.handshake(mechanism, version=0)["error_code"] == ErrorCode.NONE
                    conn.offer(frame)
                    try:
                        conn.closed_unanswered()
                    except AssertionError as exc:
                        raise AssertionError(f"{mechanism}, {case}: {exc}") from None
        with broker.connect(listener) as conn:  # a good client-first, then a garbage client-final
            assert conn.handshake("SCRAM-SHA-512", version=0)["error_code"] == ErrorCode.NONE
            conn.send(SIZE.pack(16) + b"n,,n=alice,r=abc")
            assert conn.frame().startswith(b"r=abc")
            conn.send(SIZE.pack(500) + os.urandom(500))
            conn.closed_unanswered()


@pytest.mark.parametrize("listener", SASL_LISTENERS)
def test_sasl_requests_out_of_order_close_the_connection(broker: Broker, listener: str) -> None:
    with broker.attack(f"SASL requests out of order on {listener}"):
        for version in (0, 1, 2):  # SaslAuthenticate before SaslHandshake
            with broker.connect(listener) as conn:
                conn.send(authenticate_frame(b"\0bob\0bob-secret", version=version))
                conn.closed_unanswered()
        with broker.connect(listener) as conn:  # a second SaslHandshake before the first exchange began
            assert conn.handshake("SCRAM-SHA-256")["error_code"] == ErrorCode.NONE
            conn.send(encode_request(ApiKey.SASL_HANDSHAKE, 1, 2, "hostile", {"mechanism": "PLAIN"}))
            conn.closed_unanswered()
        for interloper in ("SaslHandshake", "Metadata", "Produce"):  # ... or in its middle
            with broker.connect(listener) as conn:
                assert conn.handshake("SCRAM-SHA-256")["error_code"] == ErrorCode.NONE
                assert conn.authenticate(b"n,,n=alice,r=abc")["error_code"] == ErrorCode.NONE
                if interloper == "SaslHandshake":
                    conn.send(encode_request(ApiKey.SASL_HANDSHAKE, 1, 3, "hostile", {"mechanism": "SCRAM-SHA-256"}))
                elif interloper == "Metadata":
                    conn.send(encode_request(ApiKey.METADATA, 12, 3, "hostile", METADATA))
                else:
                    conn.send(encode_request(ApiKey.PRODUCE, 9, 3, "hostile", {
                        "transactional_id": None, "acks": -1, "timeout_ms": 1000, "topic_data": []}))
                conn.closed_unanswered()
        with broker.connect(listener) as conn:  # SaslAuthenticate after an exchange that failed
            assert conn.handshake("PLAIN")["error_code"] == ErrorCode.NONE
            conn.send(authenticate_frame(b"\0bob\0wrong") + authenticate_frame(b"\0bob\0bob-secret"))
            (answer,) = split_frames(conn.rest())  # the failure alone, then the close
            assert decode_response(ApiKey.SASL_AUTHENTICATE, 2, answer)[1]["error_code"] == \
                ErrorCode.SASL_AUTHENTICATION_FAILED


# --- TLS -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("listener", TLS_LISTENERS)
def test_tls_garbage_closes_the_connection(broker: Broker, listener: str) -> None:
    hello = TlsClient(broker.tls_context()).client_hello()
    assert hello[:1] == b"\x16"  # a handshake record
    api_versions = encode_request(ApiKey.API_VERSIONS, 3, 1, "hostile", {"client_software_name": "h",
                                                                          "client_software_version": "1"})
    at_once = {
        "random bytes": os.urandom(1000),
        "a handshake record over TLS's size limit": b"\x16\x03\x01\xff\xff" + os.urandom(1000),
        "an alert instead of a ClientHello": b"\x15\x03\x03\x00\x02\x02\x28",
        "a Kafka request": api_versions,
        "a ClientHello with its body scrambled": hello[:5] + os.urandom(len(hello) - 5),
        "an SSLv2 ClientHello": b"\x80\x2e\x01\x00\x02\x00\x15" + os.urandom(0x2e - 5),
    }
    with broker.attack(f"TLS garbage on {listener}"):
        for case, data in at_once.items():
            with contextlib.closing(broker.raw(listener)) as sock:
                started = time.monotonic()
                sock.sendall(data)
                (seconds,) = closed_within({sock: started}, timeout=SLACK)
                assert seconds < AUTH_TIMEOUT_MS / 1000, f"{case}: closed only after {seconds:.1f} s"
        with contextlib.closing(broker.raw(listener)) as sock:  # after the handshake: bytes that are no TLS record
            client = TlsClient(broker.tls_context())
            client.handshake(sock)
            started = time.monotonic()
            sock.sendall(os.urandom(1000))
            closed_within({sock: started}, timeout=SLACK)
        with contextlib.closing(broker.raw(listener)) as sock:  # a record with a bad MAC
            client = TlsClient(broker.tls_context())
            client.handshake(sock)
            record = bytearray(client.wrap(api_versions))
            record[-1] ^= 0xFF
            started = time.monotonic()
            sock.sendall(record)
            closed_within({sock: started}, timeout=SLACK)
        with contextlib.closing(broker.raw(listener)) as sock:  # a truncated ClientHello: the timeout closes it
            started = time.monotonic()
            sock.sendall(hello[:40])
            (seconds,) = closed_within({sock: started}, timeout=AUTH_TIMEOUT_MS / 1000 + SLACK)
            assert seconds >= AUTH_TIMEOUT_MS / 1000 * 0.9, f"closed after {seconds:.1f} s"


@pytest.mark.parametrize("listener", (PLAIN, SASLP))
def test_tls_to_a_plaintext_port_closes_the_connection(broker: Broker, listener: str) -> None:
    """A ClientHello's first bytes read as the size of a frame far over the limits."""
    hello = TlsClient(broker.tls_context()).client_hello()
    with broker.attack(f"a ClientHello to {listener}"):
        for data in (hello, hello[:4], b"\x16\x03\x03\x00"):
            with contextlib.closing(broker.raw(listener)) as sock:
                started = time.monotonic()
                sock.sendall(data)
                closed_within({sock: started}, timeout=SLACK)


# --- floods --------------------------------------------------------------------------------------------------------


def test_connections_that_never_finish_the_tls_handshake_are_closed(broker: Broker) -> None:
    """A third send nothing, a third a truncated ClientHello, a third a whole one and never their Finished."""
    hello = TlsClient(broker.tls_context()).client_hello()
    with broker.attack(f"{FLOOD} unfinished TLS handshakes", costs=FLOOD * 64 * 1024):
        socks: dict[socket.socket, float] = {}
        try:
            for i in range(FLOOD):
                sock = broker.raw(TLS_LISTENERS[i % 2])
                socks[sock] = time.monotonic()
                if i % 3 == 1:
                    sock.sendall(hello[:40])
                elif i % 3 == 2:
                    sock.sendall(hello)
            broker.served_everywhere()  # served meanwhile
            seconds = closed_within(socks, timeout=AUTH_TIMEOUT_MS / 1000 + SLACK)
        finally:
            for sock in socks:
                sock.close()
        assert min(seconds) >= AUTH_TIMEOUT_MS / 1000 * 0.9, f"the first closed after {min(seconds):.1f} s"


def test_connections_that_never_authenticate_are_closed(broker: Broker) -> None:
    """On both SASL listeners (after the TLS handshake on SASL_SSL): a third send nothing, a third stop after their
    SaslHandshake, a third after their client-first."""
    with broker.attack(f"{FLOOD} connections that never authenticate", costs=FLOOD * 64 * 1024):
        socks: dict[socket.socket, float] = {}
        try:
            for i in range(FLOOD):
                listener = SASL_LISTENERS[i % 2]
                sock = broker.raw(listener)
                socks[sock] = time.monotonic()
                frames = [encode_request(ApiKey.SASL_HANDSHAKE, 1, 1, "h", {"mechanism": "SCRAM-SHA-512"}),
                          authenticate_frame(b"n,,n=alice,r=abc")][:i % 3]
                data = b"".join(frames)
                if listener == SASLS:
                    client = TlsClient(broker.tls_context())
                    client.handshake(sock)
                    data = client.wrap(data) if data else b""
                if data:
                    sock.sendall(data)
            broker.served_everywhere()
            seconds = closed_within(socks, timeout=AUTH_TIMEOUT_MS / 1000 + SLACK)
        finally:
            for sock in socks:
                sock.close()
        assert min(seconds) >= AUTH_TIMEOUT_MS / 1000 * 0.9, f"the first closed after {min(seconds):.1f} s"


def _failed_login(broker: Broker, listener: str, mechanism: str, user: str) -> float:
    """Seconds until a login with a wrong password is refused; the connection must close after the refusal."""
    with broker.connect(listener) as conn:
        started = time.monotonic()
        answer = login(conn, mechanism, user, "wrong")
        seconds = time.monotonic() - started
        assert answer["error_code"] == ErrorCode.SASL_AUTHENTICATION_FAILED, answer
        conn.closed_unanswered()
    return seconds


def test_a_flood_of_failed_logins_is_refused_slowly_and_serves_the_others(broker: Broker) -> None:
    attempts = [(SASLS, "SCRAM-SHA-512", "alice"), (SASLP, "SCRAM-SHA-256", "nobody"), (SASLP, "PLAIN", "bob"),
                (SASLS, "PLAIN", "mallory")]
    threads, per_thread = 8, 40
    with broker.attack(f"{threads * per_thread} failed logins, then {FLOOD} at once", costs=FLOOD * 64 * 1024):
        refusals: list[float] = []
        errors: list[BaseException] = []

        def guess(index: int) -> None:
            try:
                for n in range(per_thread):
                    refusals.append(_failed_login(broker, *attempts[(index + n) % len(attempts)]))
            except BaseException as exc:
                errors.append(exc)

        workers = [threading.Thread(target=guess, args=(i,), daemon=True) for i in range(threads)]
        for worker in workers:
            worker.start()
        served = 0
        while any(worker.is_alive() for worker in workers):  # the right password keeps working meanwhile
            broker.served(SASLS)
            broker.served(SASLP)
            served += 1
        for worker in workers:
            worker.join()
        assert not errors, errors[0]
        assert len(refusals) == threads * per_thread
        assert min(refusals) >= FAILED_DELAY_S * 0.9, f"a refusal came after {min(refusals) * 1000:.0f} ms"
        assert served > 0

        # All at once: each connection sends its handshake and a wrong PLAIN password in one write.
        conns = [broker.connect(SASLP) for _ in range(FLOOD)]
        try:
            guesses = encode_request(ApiKey.SASL_HANDSHAKE, 1, 1, "h", {"mechanism": "PLAIN"}) + \
                authenticate_frame(b"\0bob\0wrong")
            for conn in conns:
                conn.send(guesses)
            broker.served(SASLP)
            for conn in conns:
                handshake, failure = split_frames(conn.rest())
                assert decode_response(ApiKey.SASL_HANDSHAKE, 1, handshake)[1]["error_code"] == ErrorCode.NONE
                answer = decode_response(ApiKey.SASL_AUTHENTICATE, 2, failure)[1]
                assert answer["error_code"] == ErrorCode.SASL_AUTHENTICATION_FAILED, answer
        finally:
            for conn in conns:
                conn.close()
