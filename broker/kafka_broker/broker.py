"""One broker process: assembles storage, ZooKeeper metadata, replicas, controller, listener and
HTTP endpoint, and runs them until a signal asks it to stop.

Start-up order matters: logs are recovered before anything is served; the metadata cache is
filled before the replica manager decides roles; the listener opens before the broker registers
in ZooKeeper (clients that see the registration can connect at once). Shutdown on SIGTERM is
controlled: leadership moves to other in-sync replicas first, then the listener closes, logs are
flushed and the ZooKeeper session ends (removing the registration).

The ZooKeeper client logs in and creates znodes with ACLs as configured (:mod:`kafka_broker.cluster.zk_client`);
a login ZooKeeper refuses stops the broker. A lost ZooKeeper session is not a reason to stop:
:mod:`kafka_broker.cluster.session` fences the broker and brings it back with a new session. kazoo tries to
reach ZooKeeper again at least every ``kopfka.zookeeper.reconnect.backoff.max.ms`` (its own backoff would grow to
an hour).

Background tasks (replica manager, ISR checks, retention, controller, group coordinator, cleaner)
each survive the failures of their own rounds. One that dies all the same leaves the broker unable to
do its job: the broker logs which and why, shuts down and exits with :data:`EXIT_TASK_FAILED`, so its
supervisor restarts it — it never stops silently with status 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Coroutine
from contextlib import suppress
from functools import partial
from typing import TYPE_CHECKING, Any

from kazoo.client import KazooClient

from kafka_broker import metadata as md
from kafka_broker.cluster.acl_authorizer import AclAuthorizer
from kafka_broker.cluster.client_quotas import ClientQuotas
from kafka_broker.cluster.controlled_shutdown import hand_over_partitions
from kafka_broker.cluster.dynamic_config import DynamicBrokerConfig, reconfigure_logs
from kafka_broker.cluster.listener_security import listener_security
from kafka_broker.cluster.metadata_cache import MetadataCache
from kafka_broker.cluster.replica_fetcher import ReplicaFetcherManager
from kafka_broker.cluster.replica_manager import ReplicaManager
from kafka_broker.cluster.replication_quota import FOLLOWER, LEADER, UNBOUNDED, ReplicationQuota
from kafka_broker.cluster.session import SessionKeeper
from kafka_broker.cluster.topic_admin import TopicAdmin
from kafka_broker.cluster.zk_client import ZooKeeperSecurity, connect_zookeeper, on_login_refused
from kafka_broker.cluster.zk_store import ZkStore
from kafka_broker.cluster.zk_watcher import ZkWatcher
from kafka_broker.config import BrokerConfig, CleanerSettings, ConfigError, settings_from
from kafka_broker.controller import Controller
from kafka_broker.coordinator.group_coordinator import GroupCoordinator
from kafka_broker.coordinator.producer_ids import ProducerIdManager
from kafka_broker.handlers import BrokerServices
from kafka_broker.security.tls import TlsReloader
from kafka_broker.server import start_server
from kafka_broker.storage.cleaner import LogCleaner
from kafka_broker.storage.log_config import LogConfig
from kafka_broker.storage.log_manager import LogManager

if TYPE_CHECKING:
    from aiohttp.web import AppRunner

log = logging.getLogger(__name__)

TLS_RELOAD_INTERVAL_S = 10.0
"""How often the listeners' key and trust store files are checked for a rotated certificate."""
EXIT_TASK_FAILED = 1
"""Exit status of a broker stopped because a background task died (or it could not rejoin the cluster)."""


class Broker:
    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.zookeeper_security = ZooKeeperSecurity.from_settings(config.zookeeper)
        """How the broker logs in to ZooKeeper and which ACLs its znodes get (ConfigError here if misconfigured)."""
        self.cache = MetadataCache()
        self.zk: KazooClient | None = None
        self.store: ZkStore | None = None
        self.logs = LogManager(list(config.log_dirs), LogConfig.from_kafka(config.topic_defaults))
        self.replicas: ReplicaManager | None = None
        self.controller: Controller | None = None
        self.fetchers: ReplicaFetcherManager | None = None
        self.services: BrokerServices | None = None
        self.dynamic: DynamicBrokerConfig | None = None
        self.session: SessionKeeper | None = None
        self.exit_code = 0
        """The process's exit status: :data:`EXIT_TASK_FAILED` once :meth:`fail` stopped the broker."""
        self._tasks: list[asyncio.Task[Any]] = []
        self._servers: list[asyncio.Server] = []
        self._reloaders: list[TlsReloader] = []
        """The listeners' TLS key and trust stores, reloaded when their files change."""
        self._http: AppRunner | None = None
        self._stop = asyncio.Event()
        self._stopping = False

    @property
    def registered(self) -> bool:
        """Registered in ZooKeeper with the current session (kept by :attr:`session`)."""
        return self.session is not None and self.session.registered

    @registered.setter
    def registered(self, value: bool) -> None:
        # settable only because kafka_broker.http's Broker protocol declares a plain attribute
        if self.session is not None:
            self.session.registered = value

    @property
    def _stale_wait_s(self) -> float:
        return 2 * self.config.zookeeper.session_timeout_ms / 1000 + 5

    @property
    def registration(self) -> md.BrokerRegistration:
        return md.BrokerRegistration.for_listeners(
            self.config.broker_id,
            [(lc.name, lc.security_protocol, lc.advertised_host, lc.advertised_port)
             for lc in self.config.listeners.all],
            rack=self.config.rack, http_port=self.config.http_port or None,
        )

    def _apply_replication_throttles(self, _changed: frozenset[str]) -> None:
        """The dynamic ``leader/follower.replication.throttled.rate`` as the throttles' bounds."""
        assert self.dynamic is not None
        for quota in (self.leader_quota, self.follower_quota):
            bound = self.dynamic.current(quota.rate_key)
            quota.set_bound(bound if isinstance(bound, int) else UNBOUNDED)

    async def start(self) -> None:
        config = self.config
        loop = asyncio.get_running_loop()
        log.info("recovering logs in %s", ", ".join(map(str, config.log_dirs)))
        await asyncio.to_thread(self.logs.load_all)
        zk = await asyncio.to_thread(connect_zookeeper, config.zookeeper, security=self.zookeeper_security)
        self.zk = zk
        on_login_refused(zk, partial(loop.call_soon_threadsafe, self._login_refused))
        self.store = ZkStore(zk)
        self.cache.cluster_id = await asyncio.to_thread(self.store.ensure_layout_sync)
        self.replicas = ReplicaManager(config, self.cache, self.logs, self.store)
        self.leader_quota, self.follower_quota = (
            ReplicationQuota(kind, broker_id=config.broker_id, settings=config.quotas,
                             topic_configs=lambda t: info.config if (info := self.cache.topics.get(t)) else None)
            for kind in (LEADER, FOLLOWER))
        self.fetchers = ReplicaFetcherManager(config, self.cache, quota=self.follower_quota)
        self.replicas.fetchers = self.fetchers
        self.cache.on_topic_change(self.replicas.metadata_changed)
        self.controller = Controller(config, self.cache, self.store)
        self.session = SessionKeeper(
            zk, store=self.store, registration=self.registration, replicas=self.replicas, controller=self.controller,
            stale_wait_s=self._stale_wait_s, retry_backoff_s=config.zookeeper.reconnect_backoff_max_ms / 1000,
            on_fatal=lambda exc: self.fail("could not register again after losing the ZooKeeper session", exc),
        )
        self.session.attach(loop)
        self.dynamic = DynamicBrokerConfig(config, zk)
        await asyncio.to_thread(self.dynamic.watch, loop)  # before the logs are reconciled: topic defaults
        self.dynamic.on_change(self._apply_replication_throttles)
        self._apply_replication_throttles(frozenset())
        reconfigure_logs(self.dynamic, topics=lambda: list(self.cache.topics),
                         topic_changed=self.replicas.metadata_changed,
                         set_default_log_config=lambda: setattr(self.logs, "default_config",
                                                                LogConfig.from_kafka(config.topic_defaults)))
        watcher = ZkWatcher(self.zk, self.cache, loop)
        await asyncio.to_thread(watcher.start)
        await asyncio.sleep(0)  # let the initial watch callbacks land in the cache
        self.replicas.reconcile_all(starting=True)
        self.replicas.delete_stray_logs()
        admin = TopicAdmin(self.store, self.cache, default_partitions=config.num_partitions,
                           default_replication_factor=config.replication.default_replication_factor)
        self.services = BrokerServices(config=config, cache=self.cache, replicas=self.replicas, admin=admin,
                                       store=self.store, controller=self.controller, dynamic=self.dynamic,
                                       leader_quota=self.leader_quota)
        self.services.quotas = ClientQuotas(config.quotas)
        await asyncio.to_thread(self.services.quotas.watch, zk, loop)
        if config.authorizer.enabled:  # before the listeners open: no request goes unauthorized
            self.services.authorizer = AclAuthorizer(config.authorizer, zk)
            await asyncio.to_thread(self.services.authorizer.start)
        self._attach_features()
        for listener in config.listeners.all:
            security = listener_security(listener, user_config=self.services.quotas.user_config)
            if security.reloader is not None:
                self._reloaders.append(security.reloader)
            self._servers.append(await start_server(self.services, listener, security))
        if self.cache.controller_id == md.NO_LEADER:
            # contend before registering, so a cluster whose brokers are registered always has a controller
            # (admin clients that see no controller wait for a broker state change that may never come)
            await self.controller.try_elect()
        await self.session.register()
        await self.replicas.reclaim_leadership()
        log.info("broker %d registered, listening on %s (advertised %s)", config.broker_id,
                 ", ".join(map(str, config.listeners.all)), ", ".join(lc.advertised for lc in config.listeners.all))
        self._spawn(self.replicas.run(), "replica-manager")
        self._spawn(self.replicas.shrink_isr_loop(), "isr-shrink")
        self._spawn(self.replicas.retention_loop(), "retention")
        self._spawn(self.controller.run(), "controller")
        if self._reloaders:
            self._spawn(self._reload_certificates(), "tls-reload")
        self.controller.trigger()
        if config.http_port:
            from kafka_broker.http import start_http

            self._http = await start_http(self, config.http_host, config.http_port)

    def _login_refused(self) -> None:
        if not self._stopping:
            self.fail("ZooKeeper refused the broker's SASL login on a new connection; kazoo gave up connecting")

    async def _reload_certificates(self) -> None:
        """Every ``TLS_RELOAD_INTERVAL_S``: load the key and trust stores whose files changed (a rotated
        certificate serves new connections; open ones keep theirs). A file that cannot be used is logged and the
        listener keeps what it had."""
        while True:
            await asyncio.sleep(TLS_RELOAD_INTERVAL_S)
            for reloader in self._reloaders:
                try:
                    if await asyncio.to_thread(reloader.reload_if_changed):
                        log.info("reloaded TLS key or trust store: %s", ", ".join(reloader.files))
                except ConfigError as exc:
                    log.error("could not reload TLS key or trust store, keeping the previous one: %s", exc)

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
        dynamic = self.services.dynamic

        def cleaner_settings() -> CleanerSettings:
            return settings_from(CleanerSettings, dynamic.props())

        cleaner = LogCleaner(self.config.log_dirs, settings=cleaner_settings())
        dynamic.on_change(lambda _keys: setattr(cleaner, "settings", cleaner_settings()))
        self._spawn(cleaner.run(lambda: [(p.log, p.high_watermark) for p in list(replicas.partitions.values())]),
                    "log-cleaner")

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        """A background task ended. Cancelled (shutdown) or finished (nothing to do, e.g. the cleaner when
        disabled) is fine; one that died takes the broker down, loudly and with a non-zero exit."""
        if task.cancelled() or self._stopping:
            return
        exc = task.exception()
        if exc is not None:
            self.fail(f"background task {task.get_name()} died", exc)

    def fail(self, reason: str, exc: BaseException | None = None) -> None:
        """The broker cannot go on: log why, then shut down and exit with :data:`EXIT_TASK_FAILED`."""
        log.critical("%s; stopping broker %d (exit status %d)", reason, self.config.broker_id, EXIT_TASK_FAILED,
                     exc_info=exc)
        self.exit_code = EXIT_TASK_FAILED
        self._stop.set()

    async def run_until_stopped(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with suppress(NotImplementedError):
                loop.add_signal_handler(sig, self._stop.set)
        await self.start()
        await self._stop.wait()
        await self.shutdown()

    async def shutdown(self) -> None:
        log.info("broker %d shutting down", self.config.broker_id)
        self._stopping = True
        if self.replicas is not None:
            self.replicas.shutting_down = True
        await self._controlled_shutdown()
        for server in self._servers:
            server.close()
        if self._http is not None:
            await self._http.cleanup()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
        await asyncio.to_thread(self.logs.close_all)
        if self.session is not None:
            self.session.close()
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
