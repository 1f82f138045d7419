"""What keeps a broker in the cluster, as :mod:`kafka_broker.broker` wires it (its own tests' folder belongs to
the broker core; these are about staying in the cluster): a background task that dies stops the broker
loudly and with a non-zero exit status — it used to stop it with status 0, logging an error among others —
while finished and cancelled tasks change nothing; and its ZooKeeper client keeps trying to reconnect at
least every ``kopfka.zookeeper.reconnect.backoff.max.ms`` (kazoo's default backoff grows to an hour)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from kazoo.exceptions import ConnectionLoss
from kazoo.retry import KazooRetry

from kafka_broker import main as broker_main
from kafka_broker.broker import EXIT_TASK_FAILED, Broker
from kafka_broker.cluster.zk_client import zookeeper_client

from .fakes import broker_config, settle


async def test_a_background_task_that_dies_stops_the_broker_with_a_non_zero_exit(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broker = Broker(broker_config(1, tmp_path))

    async def isr_checks() -> None:
        raise RuntimeError("SessionExpiredError escaped the ISR write")

    broker._spawn(isr_checks(), "isr-shrink")
    await settle()
    assert broker._stop.is_set() and broker.exit_code == EXIT_TASK_FAILED
    [record] = [r for r in caplog.records if r.name == "kafka_broker.broker" and r.levelno >= logging.ERROR]
    assert "background task isr-shrink died" in record.getMessage() and "exit status 1" in record.getMessage()
    assert record.exc_info is not None and "ISR write" in str(record.exc_info[1])


async def test_finished_and_cancelled_tasks_leave_the_broker_running(tmp_path: Path) -> None:
    broker = Broker(broker_config(1, tmp_path))

    async def nothing_to_do() -> None:  # the cleaner, when log.cleaner.enable=false
        return

    broker._spawn(nothing_to_do(), "log-cleaner")
    broker._spawn(asyncio.sleep(3600), "retention")
    await settle()
    broker._tasks[-1].cancel()
    await settle()
    assert not broker._stop.is_set() and broker.exit_code == 0


def test_the_process_exits_with_the_brokers_exit_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def a_task_died(self: Broker) -> None:
        self.fail("background task controller died")

    monkeypatch.setattr(Broker, "run_until_stopped", a_task_died)
    monkeypatch.setattr(broker_main, "install_event_loop", lambda: None)
    args = ["--override", "broker.id=1", "--override", f"log.dirs={tmp_path}", "--override", "zookeeper.connect=zk:1"]
    assert broker_main.main(args) == EXIT_TASK_FAILED


def waits_between_attempts(retry: KazooRetry, *, failures: int) -> list[float]:
    """The waits of ``retry`` (a copy of one of kazoo's retry policies) before an attempt succeeds after
    ``failures`` attempts found ZooKeeper unreachable."""
    sleeps: list[float] = []
    retry.sleep_func, retry.interrupt = sleeps.append, None
    attempts = iter(range(failures + 1))

    def attempt() -> str:
        if next(attempts) < failures:
            raise ConnectionLoss()
        return "connected"

    assert retry(attempt) == "connected"  # never gave up
    return sleeps


def test_zookeeper_is_tried_again_at_least_every_reconnect_backoff_max(tmp_path: Path) -> None:
    config = broker_config(1, tmp_path, **{"kopfka.zookeeper.reconnect.backoff.max.ms": "500"})
    client = zookeeper_client(config.zookeeper)
    for retry in (client._conn_retry, client._retry):  # connecting; the watch recipes' reads
        sleeps = waits_between_attempts(retry.copy(), failures=29)
        assert len(sleeps) == 29 and sleeps[0] <= 0.1 * 1.4
        assert max(sleeps) <= 0.5 * 1.4  # the backoff's cap, with kazoo's jitter of up to 40%
