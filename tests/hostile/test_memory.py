"""A few bytes cannot cost the broker memory or its event loop.

Against one real broker process (module-scoped), with the witness (an idempotent acks=all producer)
writing throughout and checked at the end (every record it was told was stored is there), each attack
measures the broker's resident memory (``VmRSS``, and the peak ``VmHWM``, reset before each attack
through ``/proc/<pid>/clear_refs``):

- **size-prefix bomb**: 16 connections each send only a size prefix announcing a 100 MiB frame (the
  largest ``socket.request.max.bytes`` allows). Nothing is allocated for an announcement, so the peak
  may grow by no more than ``NOISE`` (what an unrelated burst of activity can cost; the broker allocated
  100 MiB per prefix before: +1.6 GiB).
- **slowloris**: 16 connections announce 100 MiB and then dribble a byte at a time (1,000 bytes each): a
  frame's buffer is at most twice what arrived (at least 4 KiB), so again within ``NOISE``.
- **bytes actually sent**: 8 connections each send 30 MB of a 100 MiB frame. What the broker holds is
  bounded by ``queued.max.request.bytes`` (128 MiB here) plus the one frame that may finish over it
  (twice its 30 MB at most) — not by the 480 MB the frames' buffers would otherwise reach (800 MB when
  each prefix allocated its whole frame). Small requests still get through meanwhile: the witness keeps
  being acknowledged while the pool is spent.
- **connection flood**: thousands of idle connections (``FLOOD``, within this process's file limit,
  raised to its hard limit) cost at most 16 KiB each (the target: 10,000 under 200 MiB of RSS; the
  broker preallocated 256 KiB per connection before), and a second flood of the same size must not
  raise the peak again: what the first one used was given back and is reused.
- **partition-count bomb**: CreateTopics (``validate_only`` or not) and CreatePartitions asking for
  2^31-1 partitions are answered INVALID_PARTITIONS at once, without memory growing.

After each attack the connections close; once the broker has closed its side (its descriptor count is
back), its memory must be back within ``NOISE`` of where it started — released when the connection
closes, not whenever the garbage collector gets to a reference cycle. Waits are on conditions (accepted
connections counted in ``/proc/<pid>/fd``, a request answered after the attack's bytes); the few
bounds are upper bounds.
"""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.hostile.witness import Witness
from tests.integration.admin import create_topic
from tests.integration.wire import WireClient
from tests.waiting import wait_for

from kafka_broker.local import LocalCluster
from kafka_broker.protocol import ApiKey, ErrorCode

pytestmark = pytest.mark.hostile

MiB = 1024 * 1024
MAX_FRAME = 100 * MiB
POOL = 128 * MiB
NOISE = 24 * MiB
"""What an attack may cost beyond its own bound: the witness, logging, allocator slack."""
PER_CONNECTION = 16 * 1024
FLOOD = 4000
HUGE = 2**31 - 1


@dataclass
class Broker:
    cluster: LocalCluster
    pid: int
    address: tuple[str, int]
    witness: Witness

    def rss(self) -> int:
        return _status(self.pid, "VmRSS")

    def peak(self) -> int:
        return _status(self.pid, "VmHWM")

    def reset_peak(self) -> None:
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    def holds(self, ports: set[int]) -> int:
        """How many connections from these client ports the broker has accepted and not closed yet: its
        descriptors that are TCP sockets with such a peer (other clients, like the witness, come and go
        meanwhile, so a plain count of its descriptors would not do)."""
        inodes = set()
        for fd in os.listdir(f"/proc/{self.pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{self.pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        held = 0
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes and int(fields[2].rsplit(":", 1)[1], 16) in ports:
                held += 1
        return held

    def connect(self, n: int = 1) -> list[socket.socket]:
        socks = []
        for _ in range(n):
            sock = socket.create_connection(self.address, timeout=60)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            socks.append(sock)
        return socks

    def answers(self) -> None:
        """A request on a new connection is answered: every byte sent before it has been read."""
        client = WireClient(*self.address)
        try:
            response = client.request(ApiKey.METADATA, 12, {"topics": None, "allow_auto_topic_creation": False,
                                                            "include_topic_authorized_operations": False})
            assert response["brokers"], response
        finally:
            client.close()

    def accepted(self, socks: list[socket.socket]) -> None:
        ports = {sock.getsockname()[1] for sock in socks}
        wait_for(lambda: self.holds(ports) == len(socks), timeout=120, what=f"{len(socks)} connections accepted")

    def closed(self, socks: list[socket.socket]) -> None:
        """Close the attack's connections and wait until the broker has closed its side of each."""
        ports = {sock.getsockname()[1] for sock in socks}
        for sock in socks:
            sock.close()
        wait_for(lambda: self.holds(ports) == 0, timeout=120, what="the broker to close its side")
        self.answers()


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _mib(n: int) -> str:
    return f"{n / MiB:.0f} MiB"


@pytest.fixture(scope="module")
def broker(module_cluster_factory) -> Iterator[Broker]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = FLOOD + 1024
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.fail(f"the connection flood needs {wanted} descriptors; this process may have {hard} "
                    f"(raise the hard limit: ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))  # the broker inherits it
    try:
        cluster = module_cluster_factory(brokers=1, overrides={
            "socket.request.max.bytes": str(MAX_FRAME), "queued.max.request.bytes": str(POOL)})
        create_topic(cluster.bootstrap_servers, "witness", partitions=1)
        witness = Witness(cluster.bootstrap_servers, "witness", partitions=[0], rate=100)
        host, port = cluster.bootstrap_servers.rsplit(":", 1)
        with witness:
            witness.wait_acknowledged(20)
            yield Broker(cluster, int(cluster.pid_path(1).read_text()), (host, int(port)), witness)
            witness.wait_acknowledged(20)
        assert witness.verify().acknowledged > 0  # nothing the witness was told was stored is lost
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _attack_starts(broker: Broker) -> int:
    broker.answers()
    broker.reset_peak()
    return broker.rss()


def _attack_costs_nothing(broker: Broker, socks: list[socket.socket], before: int, what: str) -> None:
    """The attack's bytes are in: the peak stayed within NOISE of ``before``, the witness still gets through,
    and once the connections are closed the memory is back within NOISE."""
    broker.answers()
    peak = broker.peak()
    broker.witness.wait_acknowledged(20)
    broker.closed(socks)
    assert peak - before <= NOISE, f"{what} took the broker from {_mib(before)} to {_mib(peak)}"
    assert broker.rss() - before <= NOISE, f"after they closed it still holds {_mib(broker.rss())}"


def test_a_size_prefix_bomb_costs_nothing(broker: Broker) -> None:
    before = _attack_starts(broker)
    socks = broker.connect(16)
    broker.accepted(socks)
    for sock in socks:
        sock.sendall(struct.pack(">i", MAX_FRAME))
    _attack_costs_nothing(broker, socks, before, "16 size prefixes")


def test_slowloris_costs_what_it_sends(broker: Broker) -> None:
    before = _attack_starts(broker)
    socks = broker.connect(16)
    broker.accepted(socks)
    for sock in socks:
        sock.sendall(struct.pack(">i", MAX_FRAME))
    for i in range(1000):  # a byte at a time, on every connection in turn
        for sock in socks:
            sock.send(bytes([i % 256]))
    _attack_costs_nothing(broker, socks, before, "16 dribbling connections")


class _Sender:
    """Sends ``data`` on ``sock`` from a thread; ``sent`` counts what the kernel took."""

    def __init__(self, sock: socket.socket, data: bytes) -> None:
        self.sock, self.data, self.sent = sock, memoryview(data), 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while self.sent < len(self.data):
                self.sent += self.sock.send(self.data[self.sent:self.sent + MiB])
        except OSError:
            pass  # closed by the test


def test_bytes_sent_are_held_within_queued_max_request_bytes(broker: Broker) -> None:
    before = _attack_starts(broker)
    socks = broker.connect(8)
    chunk = struct.pack(">i", MAX_FRAME) + os.urandom(1024) * (30_000_000 // 1024)
    senders = [_Sender(sock, chunk) for sock in socks]
    progress: list[int] = []

    def settled() -> bool:  # every sender done, or stuck because the broker stopped reading from it
        progress.append(sum(s.sent for s in senders))
        return all(s.sent == len(chunk) for s in senders) or (len(progress) > 3 and progress[-1] == progress[-4])

    wait_for(settled, timeout=120, interval=0.25, what="the senders to finish or stall")
    broker.witness.wait_acknowledged(20)  # small requests get through while the pool is spent
    peak = broker.peak()
    broker.closed(socks)
    bound = POOL + 2 * 30_000_000 + NOISE
    assert peak - before <= bound, (f"8 x 30 MB sent took the broker from {_mib(before)} to {_mib(peak)} "
                                    f"(bound: {_mib(bound)} more)")
    assert sum(s.sent for s in senders) < 8 * len(chunk), "the broker read every byte: the pool did not hold"
    assert broker.rss() - before <= NOISE, f"after they closed it still holds {_mib(broker.rss())}"


def test_a_connection_flood_costs_little_and_is_given_back(broker: Broker) -> None:
    before = _attack_starts(broker)
    peaks = []
    for _ in range(2):
        socks = broker.connect(FLOOD)
        broker.accepted(socks)
        broker.answers()
        peaks.append(broker.peak())
        broker.closed(socks)
    broker.witness.wait_acknowledged(20)
    growth = peaks[0] - before
    assert growth <= FLOOD * PER_CONNECTION + NOISE, (f"{FLOOD} idle connections took the broker from "
                                                       f"{_mib(before)} to {_mib(peaks[0])}")
    assert peaks[1] - peaks[0] <= NOISE // 3, (f"a second flood raised the peak from {_mib(peaks[0])} to "
                                               f"{_mib(peaks[1])}: the first one's memory was not given back")


def test_a_partition_count_bomb_is_refused_at_once(broker: Broker) -> None:
    before = _attack_starts(broker)
    client = WireClient(*broker.address, timeout=30)
    try:
        for validate_only in (True, False):
            started = time.monotonic()
            response = client.request(ApiKey.CREATE_TOPICS, 7, {"topics": [{
                "name": "bomb", "num_partitions": HUGE, "replication_factor": 1, "assignments": [], "configs": []}],
                "timeout_ms": 30_000, "validate_only": validate_only})
            (result,) = response["topics"]
            assert result["error_code"] == ErrorCode.INVALID_PARTITIONS, result
            assert "at most 10000" in result["error_message"], result
            assert time.monotonic() - started < 10
        started = time.monotonic()
        response = client.request(ApiKey.CREATE_PARTITIONS, 3, {
            "topics": [{"name": "witness", "count": HUGE, "assignments": None}],
            "timeout_ms": 30_000, "validate_only": False})
        (result,) = response["results"]
        assert result["error_code"] == ErrorCode.INVALID_PARTITIONS, result
        assert time.monotonic() - started < 10
    finally:
        client.close()
    broker.witness.wait_acknowledged(20)
    assert broker.peak() - before <= NOISE
