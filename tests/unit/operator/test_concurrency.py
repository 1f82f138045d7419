"""Reconciles of one KafkaCluster never overlap, whichever handlers fire (the timer, a spec change, an owned
object's event), and a lost broker's first-seen time survives handlers that were handed a stale body.

The handlers are called as kopf calls them (coroutines awaited, sync functions in a worker thread), against
the fakes; the fake ZooKeeper holds the first reconcile inside its session until the test lets it go.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from typing import Any

import pytest
from reconcile_fakes import World, start_cluster

from kafka_operator import handlers

SINCE_T0 = [{"id": 2, "since": "2026-01-01T12:00:00Z"}]


async def call(handler: Callable[..., Any], **kwargs: Any) -> Any:
    if inspect.iscoroutinefunction(handler):
        return await handler(**kwargs)
    return await asyncio.to_thread(handler, **kwargs)


class Gate:
    """Holds the n-th ZooKeeper read of topic assignments until ``release(n)``."""

    def __init__(self, count: int) -> None:
        self.entered = [threading.Event() for _ in range(count)]
        self.gates = [threading.Event() for _ in range(count)]
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, method: str) -> None:
        if method != "topic_assignments":
            return
        with self.lock:
            index, self.calls = self.calls, self.calls + 1
        if index < len(self.gates):
            self.entered[index].set()
            assert self.gates[index].wait(10), "the test never released the gate"

    async def wait_entered(self, index: int) -> bool:
        return await asyncio.to_thread(self.entered[index].wait, 5)

    def release(self, index: int) -> None:
        self.gates[index].set()


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    world = World()
    start_cluster(world, brokers=3)
    world.zk.assignments = {"orders": {0: [0, 2]}}
    world.zk.registered = [0, 1]  # broker 2 is lost
    monkeypatch.setattr(handlers, "_ctx", world.ctx)
    return world


async def test_overlapping_reconciles_run_one_after_the_other_and_keep_the_first_seen_time(world):
    gate = Gate(2)
    world.zk.on_call = gate
    stale = world.cluster()  # what kopf handed both handlers: no lostBrokers yet
    first = asyncio.create_task(call(handlers.resync_cluster, body=stale))
    assert await gate.wait_entered(0)
    world.clock.advance(60)
    second = asyncio.create_task(call(handlers.reconcile_cluster, body=stale))
    await asyncio.sleep(0.2)
    assert not gate.entered[1].is_set(), "the second reconcile ran while the first was still running"
    gate.release(0)
    await first
    assert world.status()["lostBrokers"] == SINCE_T0
    gate.release(1)
    await second
    assert world.status()["lostBrokers"] == SINCE_T0


async def test_an_owned_object_event_waits_for_the_running_reconcile(world):
    gate = Gate(1)
    world.zk.on_call = gate
    statefulset = world.kube.find("StatefulSet", "demo-broker")
    first = asyncio.create_task(call(handlers.resync_cluster, body=world.cluster()))
    assert await gate.wait_entered(0)
    patches = len(world.kube.status_patches)
    event = asyncio.create_task(call(handlers.statefulset_event, type="MODIFIED", body=statefulset))
    await asyncio.sleep(0.2)
    assert len(world.kube.status_patches) == patches, "the status refresh overlapped the reconcile"
    gate.release(0)
    await asyncio.gather(first, event)
    assert len(world.kube.status_patches) == patches + 2
    assert world.status()["lostBrokers"] == SINCE_T0


async def test_the_first_seen_time_never_moves_later_across_reconciles(world):
    await call(handlers.resync_cluster, body=world.cluster())
    stale = world.cluster()
    world.clock.advance(30)
    await call(handlers.resync_cluster, body=world.cluster())
    world.clock.advance(30)
    # A handler handed a body from before any status was written.
    del stale["status"]["lostBrokers"]
    await call(handlers.reconcile_cluster, body=stale)
    assert world.status()["lostBrokers"] == SINCE_T0


async def test_reconciles_of_different_clusters_do_not_wait_for_each_other(world):
    gate = Gate(1)
    world.zk.on_call = gate
    other = start_cluster(world, name="other", brokers=1)
    first = asyncio.create_task(call(handlers.resync_cluster, body=world.cluster()))
    assert await gate.wait_entered(0)
    try:
        await asyncio.wait_for(call(handlers.resync_cluster, body=other), timeout=5)
    finally:
        gate.release(0)
        await first
