"""Connections are limited, idle ones are closed, and a client pipelining without pause cannot slow
the others down.

Against one real broker process (module-scoped) with ``connections.max.idle.ms`` at 2 s and
``max.connections.per.ip.overrides`` limiting 127.0.0.2 to 5 connections (127.0.0.1, the tests' other
clients, keeps the default):

- idle connections — silent from the start, or silent after one answered request — are closed after
  ``connections.max.idle.ms``; a connection that keeps sending requests is not;
- the sixth connection from 127.0.0.2 is closed as soon as it is accepted, the five before it are
  served, and once one of them goes a new one is accepted;
- while one connection pipelines Metadata requests as fast as the broker answers them (its client reads
  the answers on another thread, so its pipe never runs dry), a quiet client sending one request at a
  time keeps its p99 latency within twice its p99 without the flood. Quiet and flooded phases
  alternate five times; the medians of their p99s are compared, so one burst of unrelated load on the
  machine does not decide the outcome, and the spread of the quiet phases' p99s (the machine's own noise
  in this run) is allowed on top.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import socket
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest
from tests.integration.wire import WireClient
from tests.waiting import wait_for

from kafka_broker.local import LocalCluster
from kafka_broker.protocol import ApiKey, encode_request

pytestmark = pytest.mark.hostile

IDLE_MS = 2000
LIMITED_IP = "127.0.0.2"
LIMITED_TO = 5
METADATA = {"topics": None, "allow_auto_topic_creation": False, "include_topic_authorized_operations": False}
SAMPLES = 1000
"""Quiet requests per phase: the p99 is the 10th slowest."""
ROUNDS = 5


class SourcedClient(WireClient):
    """The raw wire client, connecting from a chosen local address (127.0.0.x are all this machine)."""

    def __init__(self, host: str, port: int, *, source: str | None = None) -> None:
        self.sock = socket.create_connection((host, port), timeout=60, source_address=(source, 0) if source else None)
        self.correlation_id = 0


@dataclass
class Broker:
    cluster: LocalCluster
    host: str
    port: int

    def client(self, *, source: str | None = None) -> WireClient:
        return SourcedClient(self.host, self.port, source=source)


@pytest.fixture(scope="module")
def broker(module_cluster_factory) -> Broker:
    cluster = module_cluster_factory(brokers=1, overrides={
        "connections.max.idle.ms": str(IDLE_MS),
        "max.connections.per.ip.overrides": f"{LIMITED_IP}:{LIMITED_TO}",
    })
    host, port = cluster.bootstrap_servers.rsplit(":", 1)
    return Broker(cluster, host, int(port))


def test_idle_connections_are_closed(broker: Broker) -> None:
    silent = broker.client()
    answered_once = broker.client()
    active = broker.client()
    try:
        started = time.monotonic()
        answered_once.request(ApiKey.API_VERSIONS, 3, {"client_software_name": "t", "client_software_version": "1"})
        closed: dict[str, float] = {}

        def watch(name: str, client: WireClient) -> None:
            if client.is_closed_by_peer(timeout=60):
                closed[name] = time.monotonic() - started

        watchers = [threading.Thread(target=watch, args=(name, client), daemon=True)
                    for name, client in (("silent", silent), ("answered once", answered_once))]
        for watcher in watchers:
            watcher.start()

        def keep_active() -> bool:  # a request every 0.4 s until both idle ones are closed
            active.request(ApiKey.METADATA, 12, METADATA)
            time.sleep(0.4)
            return len(closed) == 2

        wait_for(keep_active, timeout=60, interval=0, what="the idle connections closed")
        assert min(closed.values()) >= IDLE_MS / 1000 * 0.9, closed
        for _ in range(2 * IDLE_MS // 400):  # and the active one outlives two more idle periods
            active.request(ApiKey.METADATA, 12, METADATA)
            time.sleep(0.4)
    finally:
        for client in (silent, answered_once, active):
            client.close()


def test_max_connections_per_ip_is_enforced(broker: Broker) -> None:
    clients = [broker.client(source=LIMITED_IP) for _ in range(LIMITED_TO)]
    try:
        for client in clients:
            assert client.request(ApiKey.METADATA, 12, METADATA)["brokers"]
        one_more = broker.client(source=LIMITED_IP)
        try:
            assert one_more.is_closed_by_peer(timeout=30), "a sixth connection from 127.0.0.2 was kept"
        finally:
            one_more.close()
        unlimited = [broker.client() for _ in range(LIMITED_TO + 1)]  # 127.0.0.1 is not limited
        try:
            for client in unlimited:
                assert client.request(ApiKey.METADATA, 12, METADATA)["brokers"]
        finally:
            for client in unlimited:
                client.close()
        for client in clients:  # the five are still served
            assert client.request(ApiKey.METADATA, 12, METADATA)["brokers"]
        clients.pop().close()

        def a_new_one_is_served() -> bool:
            client = broker.client(source=LIMITED_IP)
            try:
                return bool(client.request(ApiKey.METADATA, 12, METADATA)["brokers"])
            except (ConnectionError, OSError):
                return False
            finally:
                client.close()

        wait_for(a_new_one_is_served, timeout=30, what="a connection from 127.0.0.2 served once one went")
    finally:
        for client in clients:
            client.close()


class Flood:
    """One connection pipelining Metadata requests without pause, from another process (so it takes
    no turns of this process's interpreter from the quiet client): a thread writes them, blocking only
    when the socket's buffers are full, and the main thread reads and counts the answers."""

    def __init__(self, broker: Broker) -> None:
        context = multiprocessing.get_context("spawn")
        self._answered = context.Value("q", 0)
        self._stop = context.Event()
        self._process = context.Process(target=_flood, args=(broker.host, broker.port, self._answered, self._stop),
                                        daemon=True)

    @property
    def answered(self) -> int:
        return int(self._answered.value)

    def __enter__(self) -> Flood:
        self._process.start()
        wait_for(lambda: self.answered >= 1000, timeout=60, interval=0.01, what="the flood flowing")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._process.join(60)
        if self._process.exitcode is None:
            self._process.kill()
            self._process.join(60)


def _flood(host: str, port: int, answered: Any, stop: Any) -> None:
    """The flooding client: cheap on purpose (it shares this machine's CPUs with the broker and the quiet
    client), so it counts answers by their bytes — every answer to the same Metadata request has the
    same size — instead of parsing them."""
    sock = socket.create_connection((host, port), timeout=60)
    request = encode_request(ApiKey.METADATA, 12, 1, "flood", METADATA)
    sock.sendall(request)
    size = 4 + int.from_bytes(_exactly(sock, 4), "big")
    _exactly(sock, size - 4)
    batch = request * 1000

    def write() -> None:
        with contextlib.suppress(OSError):
            while not stop.is_set():
                sock.sendall(batch)

    threading.Thread(target=write, daemon=True).start()
    buffer = bytearray(1 << 20)
    received = 0
    with contextlib.suppress(OSError):
        while not stop.is_set():
            n = sock.recv_into(buffer)
            if not n:
                break
            received += n
            answered.value = received // size
    sock.close()


def _exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed by the broker")
        data += chunk
    return data


def _p99(client: WireClient) -> float:
    latencies = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        client.request(ApiKey.METADATA, 12, METADATA)
        latencies.append(time.perf_counter() - started)
    return statistics.quantiles(latencies, n=100)[98]


def test_a_pipelining_flood_does_not_slow_a_quiet_client(broker: Broker) -> None:
    quiet = broker.client()
    try:
        _p99(quiet)  # warm up
        quiet_p99s, flooded_p99s, flood_answers = [], [], []
        for _ in range(ROUNDS):
            quiet_p99s.append(_p99(quiet))
            with Flood(broker) as flood:
                before = flood.answered
                flooded_p99s.append(_p99(quiet))
                flood_answers.append(flood.answered - before)
    finally:
        quiet.close()
    quiet_p99, flooded_p99 = statistics.median(quiet_p99s), statistics.median(flooded_p99s)
    report = (f"p99 quiet {[f'{p * 1000:.2f}' for p in quiet_p99s]} ms, flooded "
              f"{[f'{p * 1000:.2f}' for p in flooded_p99s]} ms; the flood got {flood_answers} answers meanwhile")
    # Served alongside: one flood request starts per turn of the loop, as one quiet one does, so unloaded the
    # flood gets many answers per quiet request; a loaded machine can deschedule the flooding process itself
    # (seen: 613 answers to 1,000 quiet requests at load 6), hence a quarter.
    assert min(flood_answers) >= SAMPLES // 4, f"the flood was not served: {report}"
    # The machine's own noise, measured in this run: how far the quiet phases' p99s spread. Unloaded it is a
    # fraction of a millisecond and the bound is the 2x; with other work on both cores (CI's, a CPU
    # hog) the scheduler's time slices dominate sub-millisecond latencies and are allowed for. Before the
    # fix the flooded p99 was seconds (3.4 s), far beyond either.
    noise = max(quiet_p99s) - min(quiet_p99s)
    assert flooded_p99 <= 2 * quiet_p99 + noise, f"{report}; noise {noise * 1000:.2f} ms"

