"""This broker's dynamic configs: read from ZooKeeper, kept current by watches, applied without a restart.

Kafka's ZooKeeper layout (:mod:`kafka_broker.metadata`): ``/config/brokers/<id>`` holds one broker's
dynamic configs, ``/config/brokers/<default>`` the cluster-wide ones, each ``{"version":1,"config":{...}}``;
every change also writes ``/config/changes/config_change_<seq>`` = ``{"version":2,"entity_path":"brokers/<id>"}``
(or ``brokers/<default>``) for Kafka's own brokers, which watch that list. kopfka brokers watch the two znodes
that concern them directly (kazoo ``DataWatch``): a callback only copies the data and hands it to the event
loop, where :meth:`DynamicBrokerConfig.apply` takes it.

:meth:`DynamicBrokerConfig.apply` keeps a level's stored configs as far as they are valid — a key that may
not be dynamic or a bad value (written by another tool) is logged and left out, as Kafka's broker ignores
them — then merges the levels (:func:`kafka_broker.config.merged`: per-broker > cluster default >
server.properties > table default), recomputes the topic defaults in place in
:attr:`BrokerConfig.topic_defaults` (which every reader of a topic's effective config consults: the replica
manager's ``topic_config``/``log_config``, ``min.insync.replicas`` on produce, the controller's unclean
election) and tells the listeners which keys changed. :func:`reconfigure_logs` is the listener that hands
every topic's new log config to its partitions (retention, segment size, cleanup policy...: the replica
manager re-applies a topic's config when told the topic changed).

Reading a setting: :meth:`DynamicBrokerConfig.current` gives the typed effective value of any broker key,
e.g. ``services.dynamic.current("leader.replication.throttled.rate")`` (an int, bytes/s; Long.MAX_VALUE when
unset, meaning "no throttle"), read it at each use: it changes while the broker runs.

Changes: :meth:`DynamicBrokerConfig.alter` applies a change to one entity's configs as stored in ZooKeeper,
validates the result with Kafka's rules (:func:`kafka_broker.config.validate_dynamic`) and writes it
conditionally on the znode's version (a lost race is retried on the newer configs), then the change
notice. A change to this broker or to the default is applied here at once too, so the answer and a
DescribeConfigs right after it agree; other brokers apply it when their watch fires.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError
from kazoo.recipe.watchers import DataWatch

from kafka_broker import metadata as md
from kafka_broker.cluster.zk_store import ZkClient
from kafka_broker.config import (
    BROKER_CONFIGS,
    DYNAMIC_CONFIGS,
    BrokerConfig,
    ConfigError,
    Levels,
    Value,
    merged,
    topic_defaults,
    validate_dynamic,
)

log = logging.getLogger(__name__)

WRITE_ATTEMPTS = 10
"""Conditional writes of an entity's configs tried before giving up on a race that never ends."""

Listener = Callable[[frozenset[str]], None]


class DynamicConfigError(Exception):
    """A change refused: Kafka's message; ``invalid_config`` for INVALID_CONFIG, else INVALID_REQUEST."""

    def __init__(self, message: str, *, invalid_config: bool = False) -> None:
        super().__init__(message)
        self.invalid_config = invalid_config


class DynamicBrokerConfig:
    """The four levels of this broker's configs, and the effective value of every key."""

    def __init__(self, config: BrokerConfig, zk: ZkClient | None = None) -> None:
        self.config = config
        self.broker_id = config.broker_id
        self.zk = zk
        """ZooKeeper, for :meth:`alter` and :meth:`watch` (None: a broker without ZooKeeper, in tests)."""
        self.static: dict[str, str] = dict(config.raw)
        self.cluster_default: dict[str, str] = {}
        """``/config/brokers/<default>``, as far as valid."""
        self.per_broker: dict[str, str] = {}
        """``/config/brokers/<this broker's id>``, as far as valid."""
        self._props = merged(self.levels)
        self._listeners: list[Listener] = []
        self._stopped = False

    # --- reading ------------------------------------------------------------------------------------

    @property
    def levels(self) -> Levels:
        """(per-broker, cluster default, static) properties, highest precedence first."""
        return self.per_broker, self.cluster_default, self.static

    def props(self) -> dict[str, str]:
        """The effective properties: every level merged (table defaults not included)."""
        return dict(self._props)

    def current(self, name: str) -> Value:
        """The typed effective value of broker key ``name`` (its table default when no level sets it; the
        text of a custom key kopfka does not know, None if unset)."""
        raw = self._props.get(name)
        definition = BROKER_CONFIGS.get(name)
        if definition is None:
            return raw
        return definition.parse(None if raw is None or raw.strip() == "" else raw)

    def on_change(self, listener: Listener) -> None:
        """Call ``listener(changed keys)`` on the event loop after every change of the effective properties."""
        self._listeners.append(listener)

    # --- applying -----------------------------------------------------------------------------------

    def apply(self, *, per_broker: Mapping[str, str] | None = None,
              cluster_default: Mapping[str, str] | None = None) -> None:
        """Take a level's stored configs (None: unchanged), as far as valid, and apply the result."""
        new_default = self.cluster_default if cluster_default is None else \
            self._valid(cluster_default, per_broker=False, what="the cluster default")
        new_broker = self.per_broker if per_broker is None else \
            self._valid(per_broker, per_broker=True, what=f"broker {self.broker_id}")
        props = merged((new_broker, new_default, self.static))
        try:
            defaults = topic_defaults(props)
        except ConfigError as exc:
            log.error("dynamic broker configs not applied (the previous ones stay): %s", exc)
            return
        old, self._props = self._props, props
        self.per_broker, self.cluster_default = dict(new_broker), dict(new_default)
        changed = frozenset(k for k in old.keys() | props.keys() if old.get(k) != props.get(k))
        if not changed:
            return
        log.info("dynamic broker configs changed: %s", ", ".join(sorted(changed)))
        self.config.topic_defaults.clear()
        self.config.topic_defaults.update(defaults)
        for listener in list(self._listeners):
            try:
                listener(changed)
            except Exception:
                log.exception("applying changed dynamic broker configs failed")

    def _valid(self, stored: Mapping[str, str], *, per_broker: bool, what: str) -> dict[str, str]:
        valid: dict[str, str] = {}
        for name, raw in stored.items():
            if name in BROKER_CONFIGS and name not in DYNAMIC_CONFIGS:
                log.error("dynamic config %s of %s ignored: it cannot be updated dynamically", name, what)
                continue
            try:
                validate_dynamic({name: raw}, per_broker=per_broker)
            except ConfigError as exc:
                log.error("dynamic config %s of %s ignored: %s", name, what, exc)
                continue
            valid[name] = raw
        return valid

    # --- ZooKeeper ------------------------------------------------------------------------------------

    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Watch this broker's and the default's znodes (blocking: call in a thread). The first reads are
        delivered to the loop before this returns, so ``await asyncio.sleep(0)`` after it has them applied."""
        assert self.zk is not None
        for broker_id in (None, self.broker_id):
            DataWatch(self.zk, md.broker_config_path(broker_id), self._make_watch(broker_id, loop))

    def stop(self) -> None:
        self._stopped = True

    def _make_watch(self, broker_id: int | None, loop: asyncio.AbstractEventLoop) -> Callable[..., bool]:
        def watch(data: bytes | None, _stat: Any) -> bool:
            try:
                config = md.decode_entity_config(data)
            except (ValueError, AttributeError):
                log.error("ignoring malformed %s", md.broker_config_path(broker_id))
                config = {}
            if not self._stopped and not loop.is_closed():
                if broker_id is None:
                    loop.call_soon_threadsafe(lambda: self.apply(cluster_default=config))
                else:
                    loop.call_soon_threadsafe(lambda: self.apply(per_broker=config))
            return not self._stopped

        return watch

    async def alter(self, broker_id: int | None, change: Callable[[dict[str, str]], dict[str, str]], *,
                    validate_only: bool = False) -> dict[str, str]:
        """Apply ``change`` to the stored configs of broker ``broker_id`` (None: the cluster default), validate
        and write the result (see the module docstring); returns it. DynamicConfigError when refused."""
        for _ in range(WRITE_ATTEMPTS):
            stored, version = await self._read(broker_id)
            updated = change(dict(stored))
            try:
                validate_dynamic(
                    updated, per_broker=broker_id is not None, static=self.static,
                    cluster_default=self.cluster_default if broker_id is not None else None)
            except ConfigError as exc:
                raise DynamicConfigError(str(exc)) from None
            if validate_only:
                return updated
            if await self._write(broker_id, updated, version):
                if broker_id is None:
                    self.apply(cluster_default=updated)
                elif broker_id == self.broker_id:
                    self.apply(per_broker=updated)
                return updated
        raise DynamicConfigError(f"the configs of {md.broker_config_path(broker_id)} kept changing concurrently; "
                                 "retry")

    async def stored(self, broker_id: int | None) -> dict[str, str]:
        """The configs stored for broker ``broker_id`` (None: the cluster default)."""
        return (await self._read(broker_id))[0]

    async def _read(self, broker_id: int | None) -> tuple[dict[str, str], int]:
        zk = self.zk
        if zk is None:
            raise DynamicConfigError("dynamic broker configs need ZooKeeper")
        path = md.broker_config_path(broker_id)

        def read() -> tuple[dict[str, str], int]:
            try:
                data, stat = zk.get(path)
            except NoNodeError:
                return {}, -1
            try:
                return md.decode_entity_config(data), stat.version
            except (ValueError, AttributeError):
                return {}, stat.version  # malformed: replaced by the change

        return await asyncio.to_thread(read)

    async def _write(self, broker_id: int | None, config: Mapping[str, str], version: int) -> bool:
        zk = self.zk
        assert zk is not None
        path, data = md.broker_config_path(broker_id), md.encode_entity_config(config)
        entity = f"brokers/{md.broker_config_entity(broker_id)}"

        def write() -> bool:
            try:
                if version == -1:
                    zk.create(path, data, makepath=True)
                else:
                    zk.set(path, data, version=version)
            except (BadVersionError, NodeExistsError, NoNodeError):
                return False
            zk.create(f"{md.CONFIG_CHANGES_PATH}/{md.CONFIG_CHANGE_PREFIX}", md.encode_config_change(entity),
                      sequence=True, makepath=True)
            return True

        return await asyncio.to_thread(write)


def reconfigure_logs(dynamic: DynamicBrokerConfig, *, topics: Callable[[], list[str]],
                     topic_changed: Callable[[str, int | None], None],
                     set_default_log_config: Callable[[], None]) -> None:
    """Make a change of the broker's topic defaults reach every partition log: the log manager's default
    (``set_default_log_config``) and each topic known (``topics()``), told changed (``topic_changed(topic,
    None)``: the replica manager re-applies the topic's effective config to its partitions)."""

    def changed(_keys: frozenset[str]) -> None:
        set_default_log_config()
        for topic in topics():
            topic_changed(topic, None)

    dynamic.on_change(changed)
