"""A full disk never kills the broker (issue 13, item 5).

Broker 1's log dir is a small tmpfs the test mounts. A filler topic that only broker 1 holds fills it
until even a 100-byte record is refused, a file takes whatever pages are left — 0 bytes free — while the
witness writes (acks=all, idempotent) to a topic replicated on all three brokers. With the disk full,
broker 1 must:

* stay up. The sharpest case is set up on purpose: one page is freed, a first record of a fresh
  partition takes it for its ``.log``, and the second record's index entry needs the first page of the
  ``.index`` — which, stored into a memory map, used to kill the broker with SIGBUS. It must be refused
  with KAFKA_STORAGE_ERROR like any other append that finds no room, and leave nothing behind;
* answer KAFKA_STORAGE_ERROR to produce for the partitions it leads, and go on serving what it stored
  (a consumer reads it, ListOffsets answers);
* as a follower that cannot append, drop out of the ISR while the witness carries on with the others;
* restart with the disk still full: recover, register, lead and serve reads, read-only;

and once the file is deleted, appends succeed again without a restart and broker 1 is back in every
ISR. Afterwards the witness has lost nothing and every batch stored on every broker decodes strictly.
Every wait is on a condition.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from tests.brokers import BrokersAlive
from tests.hostile.strict_decoder import check_cluster
from tests.hostile.witness import Witness
from tests.integration.admin import describe, wait_for_topic
from tests.integration.clients import KafkaPythonClient
from tests.integration.wire import WireClient
from tests.waiting import wait_for

from kafka_broker.local import LocalCluster
from kafka_broker.local.processes import log_tail
from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.storage.records import Record, build_batch

pytestmark = pytest.mark.hostile

MIB = 1 << 20
DISK_SIZE = 24 * MIB
PAGE = os.sysconf("SC_PAGE_SIZE")
"""tmpfs hands out space in pages: a file takes whole pages, and freeing one page makes room for one."""
FULL = 1
"""The broker whose log dir is the small tmpfs."""
OVERRIDES = {
    "replica.lag.time.max.ms": "3000",
    "replica.fetch.wait.max.ms": "100",
    "replica.fetch.backoff.ms": "200",
    "log.segment.bytes": str(MIB),  # filling the disk rolls segments too
    "auto.leader.rebalance.enable": "false",
    "kopfka.controlled.shutdown.timeout.ms": "15000",
}
WITNESS = "witness"
FILLER = "filler"
PROBE = "probe"
PRODUCE_VERSION = 9


@contextmanager
def mounted_tmpfs(path: Path, size: int) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], check=False).returncode:
            subprocess.run(["umount", "--lazy", str(path)], check=True)  # (a process of a failed test lingers)


def free_pages(path: Path) -> int:
    return os.statvfs(path).f_bavail


class Filler:
    """A file that takes every page the broker left free (``posix_fallocate`` really allocates on tmpfs).
    It starts with ``initial`` bytes, so that it always has pages to give back."""

    def __init__(self, path: Path, *, initial: int = MIB) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.posix_fallocate(self.fd, 0, initial)
        self.size = initial

    def take_the_rest(self) -> bool:
        """Allocate until not one more page fits; True when the file system then has 0 bytes free."""
        chunk = MIB
        while chunk >= PAGE:
            try:
                os.posix_fallocate(self.fd, self.size, chunk)
                self.size += chunk
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                chunk //= 2
        return free_pages(self.path.parent) == 0

    def give_back_a_page(self) -> None:
        self.size -= PAGE
        os.ftruncate(self.fd, self.size)

    def delete(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def create(bootstrap: str, name: str, assignment: list[list[int]], config: dict[str, str]) -> None:
    client = AdminClient({"bootstrap.servers": bootstrap})
    topic = NewTopic(name, num_partitions=len(assignment), replica_assignment=assignment, config=config)
    client.create_topics([topic], operation_timeout=60, request_timeout=90)[name].result(120)
    wait_for_topic(bootstrap, name, partitions=len(assignment))


def request(address: str, api_key: int, version: int, body: dict[str, Any]) -> dict[str, Any]:
    """One request on a connection of its own to the broker at ``address`` (it may have restarted since)."""
    client = WireClient.to(address)
    try:
        return client.request(api_key, version, body)
    finally:
        client.close()


def produce(address: str, topic: str, values: list[bytes]) -> int:
    """acks=1 produce of one batch to partition 0; its error code."""
    now = int(time.time() * 1000)
    batch = build_batch([Record(i, now, None, v) for i, v in enumerate(values)], base_offset=0)
    response = request(address, ApiKey.PRODUCE, PRODUCE_VERSION, {
        "transactional_id": None, "acks": 1, "timeout_ms": 30_000,
        "topic_data": [{"name": topic, "partition_data": [{"index": 0, "records": batch}]}],
    })
    return int(response["responses"][0]["partition_responses"][0]["error_code"])


def end_offset(address: str, topic: str) -> int:
    """Partition 0's log end offset (ListOffsets, latest)."""
    response = request(address, ApiKey.LIST_OFFSETS, 6, {
        "replica_id": -1, "isolation_level": 0,
        "topics": [{"name": topic, "partitions": [{"partition_index": 0, "current_leader_epoch": -1,
                                                   "timestamp": -1}]}]})
    answer: dict[str, Any] = response["topics"][0]["partitions"][0]
    assert answer["error_code"] == ErrorCode.NONE, answer
    return int(answer["offset"])


def fill_with_records(produce_to: Callable[[str, list[bytes]], int]) -> int:
    """Produce to the filler partition until even a 100-byte record is refused; the records stored."""
    stored = 0
    for size in (256 * 1024, 16 * 1024, 1024, 100):
        while (code := produce_to(FILLER, [b"f" * size])) == ErrorCode.NONE:
            stored += 1
        assert code == ErrorCode.KAFKA_STORAGE_ERROR, f"a produce to the full disk answered {code}"
    return stored


def read_values(bootstrap: str, topic: str, count: int) -> list[bytes]:
    """The first ``count`` values of partition 0, read by kafka-python (no consumer group: nothing to create)."""
    messages = KafkaPythonClient().consume(bootstrap, topic, [0], count, timeout=60)
    assert len(messages) >= count, f"read {len(messages)} of {count} records of {topic}"
    return [m.value for m in messages[:count]]


def isr_of(bootstrap: str, topic: str) -> dict[int, list[int]]:
    return {partition: isr for partition, (_leader, _replicas, isr) in describe(bootstrap, topic).items()}


def test_a_full_disk_never_kills_the_broker(tmp_path: Path, require, zookeeper_chroot: str, request) -> None:
    require(os.geteuid() == 0, "mounting a tmpfs needs root")
    require("mount", "mount(8) is needed to mount a tmpfs")
    started = time.monotonic()
    cluster = LocalCluster(brokers=3, data_dir=tmp_path / "cluster", zookeeper_connect=zookeeper_chroot,
                           overrides=OVERRIDES, start_timeout=180, stop_timeout=120)
    request.node._kopfka_clusters = [cluster]  # their logs are attached to a failure's report
    disk = cluster.broker_dir(FULL) / "data"
    with mounted_tmpfs(disk, DISK_SIZE):
        try:
            cluster.start()
            run_scenario(cluster, disk)
        finally:
            cluster.stop()
    print(f"full-disk scenario: {time.monotonic() - started:.1f} s")


def run_scenario(cluster: LocalCluster, disk: Path) -> None:
    b = cluster.bootstrap_servers
    create(b, WITNESS, [[1, 2, 3], [2, 3, 1], [3, 1, 2]], {"min.insync.replicas": "2"})
    create(b, FILLER, [[FULL]], {})
    # every record gets an index entry (after the first): the probe's second record needs an index page
    create(b, PROBE, [[FULL]], {"index.interval.bytes": "0"})
    filler = Filler(disk / "filler-file")
    try:
        fill_and_free(cluster, disk, filler)
    finally:
        filler.close()


def fill_and_free(cluster: LocalCluster, disk: Path, filler: Filler) -> None:
    b = cluster.bootstrap_servers
    alive = [BrokersAlive(cluster)]
    full_broker = f"{cluster.host}:{cluster.broker_ports[FULL]}"

    def produce_to(topic: str, values: list[bytes]) -> int:
        """Produce to broker 1; a dropped connection reports how broker 1 died, if it did."""
        try:
            return produce(full_broker, topic, values)
        except ConnectionError:
            with contextlib.suppress(TimeoutError):
                wait_for(lambda: cluster.exit_status(FULL) is not None, timeout=10, what="broker 1 to exit")
            BrokersAlive(cluster).check_alive()
            raise

    with Witness(b, WITNESS, partitions=[0, 1, 2]) as witness:
        witness.wait_acknowledged(100)

        # -- fill the disk to the last byte --------------------------------------------------------------
        filled = fill_with_records(produce_to)
        wait_for(filler.take_the_rest, timeout=60, alive=alive, what="the tmpfs to have 0 bytes free")
        print(f"disk full: {filled} filler records, a {filler.size} byte file")

        # -- an index entry needing a page the file system cannot give -------------------------------------
        for _ in range(50):  # the freed page goes to whichever write comes first: the probe's, hopefully
            filler.give_back_a_page()
            if (code := produce_to(PROBE, [b"first"])) == ErrorCode.NONE:
                break
            assert code == ErrorCode.KAFKA_STORAGE_ERROR, code
        else:
            pytest.fail("the probe never got the page freed for it")
        wait_for(filler.take_the_rest, timeout=60, alive=alive, what="0 bytes free again")
        assert produce_to(PROBE, [b"second"]) == ErrorCode.KAFKA_STORAGE_ERROR  # fits its .log, not its .index
        BrokersAlive(cluster).check_alive()
        assert end_offset(full_broker, PROBE) == 1, "the refused record was kept"

        # -- read-only: produce refused, reads served ------------------------------------------------------
        assert produce_to(FILLER, [b"f" * 100]) == ErrorCode.KAFKA_STORAGE_ERROR
        assert end_offset(full_broker, FILLER) == filled
        assert read_values(full_broker, FILLER, 3) == [b"f" * 256 * 1024] * 3
        assert read_values(full_broker, PROBE, 1) == [b"first"]
        wait_for(lambda: all(FULL not in isr_of(b, WITNESS)[p] for p in (1, 2)), timeout=60, alive=alive,
                 what=f"broker {FULL}, unable to append, out of the ISR of the witness partitions it follows")
        witness.wait_acknowledged(100)  # the witness goes on with the other brokers
        BrokersAlive(cluster).check_alive()

        # -- a restart with the disk still full ------------------------------------------------------------
        wait_for(filler.take_the_rest, timeout=60, alive=alive, what="0 bytes free before the shutdown")
        status = cluster.stop_broker(FULL)
        assert status == 0, f"broker {FULL} stopped with status {status}:\n{log_tail(cluster.log_path(FULL))}"
        assert filler.take_the_rest(), "0 bytes free for the start"
        cluster.start_broker(FULL)  # registered with a new session (raises if it exits first)
        wait_for(lambda: read_values(full_broker, PROBE, 1) == [b"first"], timeout=60, alive=alive,
                 what=f"broker {FULL}, restarted on a full disk, to serve reads")
        assert read_values(full_broker, FILLER, 3) == [b"f" * 256 * 1024] * 3
        assert produce_to(PROBE, [b"refused"]) == ErrorCode.KAFKA_STORAGE_ERROR
        witness.wait_acknowledged(100)
        BrokersAlive(cluster).check_alive()

        # -- space returns: appends succeed again, without a restart ----------------------------------------
        filler.delete()
        assert produce_to(PROBE, [b"second"]) == ErrorCode.NONE
        assert produce_to(FILLER, [b"f" * 256 * 1024]) == ErrorCode.NONE
        wait_for(lambda: all(FULL in isr for isr in isr_of(b, WITNESS).values()), timeout=60, alive=alive,
                 what=f"broker {FULL} back in the ISR of every witness partition")
        witness.wait_acknowledged(100)
    assert read_values(full_broker, PROBE, 2) == [b"first", b"second"]
    report = witness.verify()
    print(f"witness: {report}")
    BrokersAlive(cluster).check_alive()
    check_cluster(cluster)
