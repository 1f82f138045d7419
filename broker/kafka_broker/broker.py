"""One broker process: assembles storage, ZooKeeper metadata, replicas, controller, listener and
HTTP endpoint, and runs them until a signal asks it to stop.

Start-up order matters: logs are recovered before anything is served; the metadata cache is
filled before the replica manager decides roles; the listener opens before the broker registers
in ZooKeeper (clients that see the registration can connect at once). Shutdown on SIGTERM is
controlled: leadership moves to other in-sync replicas first, then the listener closes, logs are
flushed and the ZooKeeper session ends (removing the registration).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Coroutine
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from kazoo.client import KazooClient, KazooState

from kafka_broker import metadata as md
from kafka_broker.cluster.controlled_shutdown import hand_over_partitions
from kafka_broker.cluster.metadata_cache import MetadataCache
from kafka_broker.cluster.replica_fetcher import ReplicaFetcherManager
from kafka_broker.cluster.replica_manager import ReplicaManager
from kafka_broker.cluster.topic_admin import TopicAdmin
from kafka_broker.cluster.zk_store import ZkStore, ensure_chroot
from kafka_broker.cluster.zk_watcher import ZkWatcher
from kafka_broker.config import BrokerConfig
from kafka_broker.controller import Controller
from kafka_broker.coordinator.group_coordinator import GroupCoordinator
from kafka_broker.coordinator.producer_ids import ProducerIdManager
from kafka_broker.handlers import BrokerServices
from kafka_broker.server import start_server
from kafka_broker.storage.cleaner import LogCleaner
from kafka_broker.storage.log_config import LogConfig
from kafka_broker.storage.log_manager import LogManager

if TYPE_CHECKING:
    from aiohttp.web import AppRunner

log = logging.getLogger(__name__)


def connect_zookeeper(config: BrokerConfig) -> KazooClient:
    """Connect, creating the chroot first if the connect string names one (as Kafka does)."""
    timeout = config.zookeeper.connection_timeout_ms / 1000
    ensure_chroot(config.zookeeper.connect, timeout=timeout)
    zk = KazooClient(hosts=config.zookeeper.connect, timeout=config.zookeeper.session_timeout_ms / 1000)
    zk.start(timeout=timeout)
    return zk


class Broker:
    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.cache = MetadataCache()
        self.zk: KazooClient | None = None
        self.store: ZkStore | None = None
        self.logs = LogManager(list(config.log_dirs), LogConfig.from_kafka(config.topic_defaults))
        self.replicas: ReplicaManager | None = None
        self.controller: Controller | None = None
        self.fetchers: ReplicaFetcherManager | None = None
        self.services: BrokerServices | None = None
        self.registered = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._server: asyncio.Server | None = None
        self._http: AppRunner | None = None
        self._stop = asyncio.Event()
        self._session_lost = False

    @property
    def _stale_wait_s(self) -> float:
        return 2 * self.config.zookeeper.session_timeout_ms / 1000 + 5

    @property
    def registration(self) -> md.BrokerRegistration:
        adv = self.config.advertised
        return md.BrokerRegistration(
            broker_id=self.config.broker_id, host=adv.host, port=adv.port, rack=self.config.rack,
            http_port=self.config.http_port or None,
        )

    async def start(self) -> None:
        config = self.config
        loop = asyncio.get_running_loop()
        log.info("recovering logs in %s", ", ".join(map(str, config.log_dirs)))
        await asyncio.to_thread(self.logs.load_all)
        zk = await asyncio.to_thread(connect_zookeeper, config)
        self.zk = zk
        zk.add_listener(self._zk_state_changed)
        self.store = ZkStore(zk)
        self.cache.cluster_id = await asyncio.to_thread(self.store.ensure_layout_sync)
        self.replicas = ReplicaManager(config, self.cache, self.logs, self.store)
        self.fetchers = ReplicaFetcherManager(config, self.cache)
        self.replicas.fetchers = self.fetchers
        self.cache.on_topic_change(self.replicas.metadata_changed)
        self.controller = Controller(config, self.cache, self.store)
        watcher = ZkWatcher(self.zk, self.cache, loop)
        await asyncio.to_thread(watcher.start)
        await asyncio.sleep(0)  # let the initial watch callbacks land in the cache
        self.replicas.reconcile_all(starting=True)
        self.replicas.delete_stray_logs()
        admin = TopicAdmin(self.store, self.cache, default_partitions=config.num_partitions,
                           default_replication_factor=config.replication.default_replication_factor)
        self.services = BrokerServices(config=config, cache=self.cache, replicas=self.replicas, admin=admin,
                                       store=self.store)
        self._attach_features()
        self._server = await start_server(self.services, config.listener.host, config.listener.port)
        if self.cache.controller_id == md.NO_LEADER:
            # contend before registering, so a cluster whose brokers are registered always has a controller
            # (admin clients that see no controller wait for a broker state change that may never come)
            await self.controller.try_elect()
        await self.store.register_broker(self.registration, stale_wait_s=self._stale_wait_s)
        self.registered = True
        await self.replicas.reclaim_startup_leadership()
        log.info("broker %d registered, listening on %s (advertised %s)", config.broker_id, config.listener,
                 config.advertised)
        self._spawn(self.replicas.run(), "replica-manager")
        self._spawn(self.replicas.shrink_isr_loop(), "isr-shrink")
        self._spawn(self.replicas.retention_loop(), "retention")
        self._spawn(self.controller.run(), "controller")
        self.controller.trigger()
        if config.http_port:
            from kafka_broker.http import start_http

            self._http = await start_http(self, config.http_host, config.http_port)

    def _attach_features(self) -> None:
        """Start what is layered on the core: the group coordinator, producer ids, the log cleaner."""
        assert self.services is not None and self.zk is not None and self.replicas is not None
        replicas = self.replicas
        groups = GroupCoordinator(broker_id=self.config.broker_id, settings=self.config.groups, cache=self.cache,
                                  replicas=replicas, admin=self.services.admin)
        groups.start()
        self._spawn(groups.run(), "group-coordinator")
        self.services.groups = groups
        self.services.producer_ids = ProducerIdManager(self.zk, self.config.broker_id)
        cleaner = LogCleaner(self.config.log_dirs, settings=self.config.cleaner)
        self._spawn(cleaner.run(lambda: [(p.log, p.high_watermark) for p in list(replicas.partitions.values())]),
                    "log-cleaner")

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s died", task.get_name(), exc_info=task.exception())
            self._stop.set()

    def _zk_state_changed(self, state: str) -> None:
        if state == KazooState.LOST:
            self._session_lost = True
            self.registered = False
        elif state == KazooState.CONNECTED and self._session_lost:
            self._session_lost = False
            loop = self._loop
            loop.call_soon_threadsafe(lambda: loop.create_task(self._reregister()))

    async def _reregister(self) -> None:
        assert self.store is not None and self.controller is not None
        log.warning("ZooKeeper session was lost; registering again")
        await self.store.register_broker(self.registration, stale_wait_s=self._stale_wait_s)
        self.registered = True
        self.controller.active = False
        self.controller.trigger()

    async def run_until_stopped(self) -> None:
        self._loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with suppress(NotImplementedError):
                self._loop.add_signal_handler(sig, self._stop.set)
        await self.start()
        await self._stop.wait()
        await self.shutdown()

    async def shutdown(self) -> None:
        log.info("broker %d shutting down", self.config.broker_id)
        if self.replicas is not None:
            self.replicas.shutting_down = True
        await self._controlled_shutdown()
        if self._server is not None:
            self._server.close()
        if self._http is not None:
            await self._http.cleanup()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
        await asyncio.to_thread(self.logs.close_all)
        if self.zk is not None:
            await asyncio.to_thread(self.zk.stop)
            await asyncio.to_thread(self.zk.close)
        log.info("broker %d stopped", self.config.broker_id)

    async def _controlled_shutdown(self) -> None:
        """Stop following, then hand leadership and ISR membership to the other replicas."""
        if self.fetchers is not None:
            self.fetchers.stop_all()
        if not (self.config.replication.controlled_shutdown_enable and self.registered and self.store):
            return
        timeout = self.config.replication.controlled_shutdown_timeout_ms / 1000
        try:
            still_led = await hand_over_partitions(self.config.broker_id, self.cache, self.store,
                                                   timeout_s=timeout)
        except Exception:
            log.exception("controlled shutdown failed; stopping anyway")
            return
        log.info("controlled shutdown done; %d partitions had no other in-sync replica", still_led)
