"""This broker's ZooKeeper session: fenced when it is lost, registered again when a new one begins.

kazoo reports the session's state on its own thread, through a listener: ``SUSPENDED`` (the connection
dropped; the session lives on if a connection is made again within the session timeout), ``LOST`` (the
session expired: ZooKeeper deleted its ephemeral znodes — ``/brokers/ids/<id>`` and, if this broker was
the controller, ``/controller`` — and the rest of the cluster is acting on its absence) and
``CONNECTED``. After ``LOST`` kazoo opens a new session by itself and reports ``CONNECTED`` again.

A lost session is a normal event — a long pause (GC, SIGSTOP, a frozen VM), a network partition — and
is handled as Kafka's brokers handle it (``KafkaZkClient``'s session-expiry handlers re-register the
broker, the controller resigns, the new controller moves leadership away and the broker comes back
as a follower that truncates):

1. **Fence**, on the event loop as soon as ``LOST`` arrives: the controller resigns (its writes are
   fenced in ZooKeeper by the controller epoch as well) and every partition led here steps down
   (:meth:`ReplicaManager.fence`): produce is refused and acks=all waiters answer
   NOT_LEADER_OR_FOLLOWER, so nothing is acknowledged that the new leader may not have.
2. **Rejoin** once the new session is ``CONNECTED``: register ``/brokers/ids/<id>`` with it, read the
   state of every local partition and take up its role (:meth:`ReplicaManager.rejoin`): follow the
   leader elected meanwhile — the fetcher first truncates the tail this broker wrote that the new
   leader never had — or take back, at a new leader epoch, what is still led here. Then the
   controller may contend again. A step that fails (ZooKeeper dropped again) is retried after
   ``kopfka.zookeeper.reconnect.backoff.max.ms``; a session lost meanwhile cancels the attempt and
   starts over at the next ``CONNECTED``.

``SUSPENDED`` alone changes nothing: the session may survive, and Kafka's brokers too keep working
through a short ZooKeeper disconnection (writes fail meanwhile; their owners retry them). The one
failure that cannot be retried — another live process registered under this broker's id — is handed
to ``on_fatal``, which stops the broker with a non-zero exit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from kazoo.client import KazooState

from kafka_broker import metadata as md
from kafka_broker.cluster.replica_manager import ReplicaManager
from kafka_broker.cluster.zk_store import BrokerIdTakenError, ZkStore

log = logging.getLogger(__name__)


class SessionClient(Protocol):
    """What the keeper needs of kazoo's ``KazooClient``: its state listeners."""

    def add_listener(self, listener: Callable[[str], Any]) -> None: ...

    def remove_listener(self, listener: Callable[[str], Any]) -> None: ...


class Controllership(Protocol):
    """What the keeper needs of the controller (:class:`kafka_broker.controller.Controller`)."""

    def resign(self, reason: str) -> None: ...

    def trigger(self) -> None: ...


class SessionKeeper:
    """Fences the broker when its session is lost and brings it back with the next one (module docstring)."""

    def __init__(
        self,
        zk: SessionClient,
        *,
        store: ZkStore,
        registration: md.BrokerRegistration,
        replicas: ReplicaManager,
        controller: Controllership,
        stale_wait_s: float,
        retry_backoff_s: float,
        on_fatal: Callable[[BaseException], None],
    ) -> None:
        self.zk = zk
        self.store = store
        self.registration = registration
        self.replicas = replicas
        self.controller = controller
        self.stale_wait_s = stale_wait_s
        """How long a registration may wait for one left by an earlier run of this broker to expire."""
        self.retry_backoff_s = retry_backoff_s
        self.on_fatal = on_fatal
        self.registered = False
        """Registered in ZooKeeper with the current session."""
        self.lost = False
        """The session was lost and the broker has not rejoined yet (it is fenced)."""
        self.sessions_lost = 0
        self._lost_at = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rejoining: asyncio.Task[None] | None = None
        self._closed = False

    # --- kazoo's thread → the event loop -----------------------------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Listen to the session's state; changes are handled on ``loop``, in the order kazoo reports them."""
        self._loop = loop
        self.zk.add_listener(self._listener)

    def close(self) -> None:
        """The broker is stopping: closing the client will report ``LOST``, which is no longer acted upon."""
        self._closed = True
        self.zk.remove_listener(self._listener)
        if self._rejoining is not None:
            self._rejoining.cancel()

    def _listener(self, state: str) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.on_state, state)

    def on_state(self, state: str) -> None:
        """A session state change, on the event loop."""
        if self._closed:
            return
        if state == KazooState.LOST:
            self._on_lost()
        elif state == KazooState.SUSPENDED:
            log.warning("ZooKeeper connection lost; the session may still be resumed")
        elif state == KazooState.CONNECTED:
            if self.lost:
                log.warning("new ZooKeeper session after %.1f s; rejoining", time.monotonic() - self._lost_at)
                self._start_rejoin()
            else:
                log.info("ZooKeeper connection established (session kept)")

    # --- the two steps --------------------------------------------------------------------------------

    async def register(self) -> None:
        """Register this broker with the current session (at start-up; the rejoin does it again)."""
        await self.store.register_broker(self.registration, stale_wait_s=self.stale_wait_s)
        self.registered = True

    def _on_lost(self) -> None:
        self.sessions_lost += 1
        self._lost_at = time.monotonic()
        log.warning("ZooKeeper session lost (registration and controllership gone): fencing this broker")
        self.lost = True
        self.registered = False
        if self._rejoining is not None:
            self._rejoining.cancel()  # it was working with the session that just went
            self._rejoining = None
        self.controller.resign("its ZooKeeper session was lost")
        self.replicas.fence()

    def _start_rejoin(self) -> None:
        if self._rejoining is None or self._rejoining.done():
            self._rejoining = asyncio.get_running_loop().create_task(self._rejoin(), name="zookeeper-rejoin")

    async def _rejoin(self) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.register()
                await self.replicas.rejoin()
                break
            except BrokerIdTakenError as exc:
                log.error("cannot rejoin: %s", exc)
                self.on_fatal(exc)
                return
            except Exception as exc:
                log.warning("rejoin attempt %d failed (%r); retrying in %.1f s", attempt, exc, self.retry_backoff_s)
                await asyncio.sleep(self.retry_backoff_s)
        self.lost = False
        self._rejoining = None
        log.warning("rejoined the cluster %.1f s after the session was lost", time.monotonic() - self._lost_at)
        self.controller.trigger()
