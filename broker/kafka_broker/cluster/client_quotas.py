"""Client quotas, enforced as Kafka's ``ClientQuotaManager`` enforces them (KIP-13, KIP-55, KIP-219).

**Which quota.** Quotas are set on ``<user>``, ``<client-id>`` or ``<user, client-id>`` entities, each name
possibly ``<default>`` (:mod:`kafka_broker.metadata` has their znodes). A request's quota is the most specific
one set, in this order (Kafka's)::

    /config/users/<user>/clients/<client-id>     /config/users/<default>/clients/<default>
    /config/users/<user>/clients/<default>       /config/users/<default>
    /config/users/<user>                         /config/clients/<client-id>
    /config/users/<default>/clients/<client-id>  /config/clients/<default>

The user is the request's principal, ``ANONYMOUS`` until authentication exists. Names are compared in
their sanitized (znode) form.

**Who shares a measurement.** Every request maps to *metric tags* ``(user, client-id)``, and all requests
with the same tags share one rate sensor: with only client-id quotas set the tags are ``("", client-id)``
(every connection of a client id together), with only user quotas ``(user, "")``, with only
``<user, client-id>`` quotas both; with several levels set, the level that supplies the quota decides which
parts count (Kafka's ``DefaultQuotaCallback.quotaMetricTags``). The sensor's bound is the quota of its tags.

**How fast.** A sensor is a :class:`~kafka_broker.cluster.rate.Rate` over ``quota.window.num`` samples of
``quota.window.size.seconds`` each (:mod:`kafka_broker.cluster.rate` has the algorithm).

**How long a throttle.** Recording that takes the rate ``O`` above the quota ``T`` answers the delay that
brings it back, assuming nothing more is recorded: ``X = (O - T) / T * W`` over the rate's window ``W``
(Kafka's ``QuotaUtils.throttleTime``, rounded half up). Produce records the request's size; Fetch records
the response's size and, when throttled, takes it back and answers no data (the response is empty). The
response carries ``throttle_time_ms`` and the server stops reading the connection for that long (KIP-219),
so an old client that ignores the field is slowed down all the same.

**Cost when no quota is set.** A manager is ``enabled`` once any quota of its kind was ever configured (as
in Kafka); until then the request path reads one attribute and records nothing.

**Watching.** :class:`ClientQuotas` mirrors ``/config/users`` and ``/config/clients`` (each entity znode,
and each user's ``clients`` children) with kazoo watches. A children watch ends when its znode is deleted,
so every parent is also data-watched (data watches survive deletion) and its children watch installed again
when it comes back. Watch callbacks run on kazoo's thread and only hand the znode's content to the event
loop. ``request_percentage`` and ``controller_mutation_rate`` are stored and described but not enforced.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kazoo.recipe.watchers import ChildrenWatch, DataWatch

from kafka_broker import metadata as md
from kafka_broker.cluster.rate import Rate, throttle_time_ms
from kafka_broker.config.broker import QuotaSettings

log = logging.getLogger(__name__)

ANONYMOUS = "ANONYMOUS"
"""The principal of every request until authentication exists (Kafka's ``KafkaPrincipal.ANONYMOUS``)."""

PRODUCER_BYTE_RATE = "producer_byte_rate"
CONSUMER_BYTE_RATE = "consumer_byte_rate"
REQUEST_PERCENTAGE = "request_percentage"
CONTROLLER_MUTATION_RATE = "controller_mutation_rate"

INACTIVE_SENSOR_EXPIRATION_MS = 3600 * 1000
"""A sensor nothing was recorded to for this long is dropped (Kafka's one hour)."""
_PURGE_INTERVAL_MS = 60 * 1000

DEFAULT = md.DEFAULT_ENTITY
Entity = tuple[str | None, str | None]
"""A quota entity: its sanitized user and client id, ``<default>`` for a default, None for a part it has not."""

# Kafka's QuotaTypes: which levels of quota have been configured.
_NO_QUOTAS = 0
_CLIENT_ID = 1
_USER = 2
_USER_CLIENT_ID = 4


@dataclass(slots=True)
class _Sensor:
    rate: Rate
    bound: float | None
    last_record_ms: float = 0.0


@functools.lru_cache(maxsize=4096)
def _sanitized(name: str) -> str:
    return md.sanitize_entity_name(name)


@dataclass
class ClientQuotaManager:
    """The quotas of one kind (produce or fetch byte rate) and the rates measured against them."""

    settings: QuotaSettings = field(default_factory=QuotaSettings)
    overrides: dict[Entity, float] = field(default_factory=dict)
    """The quota of every entity that has one."""
    enabled: bool = False
    """Whether a quota of this kind was ever set (as in Kafka, it stays so until the broker restarts)."""
    _types: int = _NO_QUOTAS
    _sensors: dict[tuple[str, str], _Sensor] = field(default_factory=dict)
    _last_purge_ms: float = 0.0

    # --- configuration ---------------------------------------------------------------------------

    def update(self, entity: Entity, bound: float | None) -> None:
        """Set (or with None remove) the quota of ``entity`` (sanitized names, ``<default>`` for defaults)."""
        user, client_id = entity
        if user is not None:
            self._types |= _USER_CLIENT_ID if client_id is not None else _USER
        elif client_id is not None:
            self._types |= _CLIENT_ID
        if bound is None:
            self.overrides.pop(entity, None)
        else:
            self.overrides[entity] = bound
            self.enabled = True
        for tags, sensor in self._sensors.items():
            sensor.bound = self.limit(tags)

    def tags(self, user: str, client_id: str) -> tuple[str, str]:
        """The metric tags a request of (sanitized) ``user`` and ``client_id`` is measured under."""
        types = self._types
        if types in (_NO_QUOTAS, _CLIENT_ID):
            return "", client_id
        if types == _USER:
            return user, ""
        if types == _USER_CLIENT_ID:
            return user, client_id
        quotas = self.overrides
        if (user, client_id) in quotas or (user, DEFAULT) in quotas:
            return user, client_id
        if (user, None) in quotas:
            return user, ""
        if (DEFAULT, client_id) in quotas or (DEFAULT, DEFAULT) in quotas:
            return user, client_id
        if (DEFAULT, None) in quotas:
            return user, ""
        return "", client_id

    def limit(self, tags: tuple[str, str]) -> float | None:
        """The quota of the requests measured under ``tags``, by Kafka's precedence; None: no quota."""
        user, client_id = tags
        quotas = self.overrides
        if user and client_id:
            candidates: Iterable[Entity] = ((user, client_id), (user, DEFAULT), (DEFAULT, client_id),
                                            (DEFAULT, DEFAULT))
        elif user:
            candidates = ((user, None), (DEFAULT, None))
        elif client_id:
            candidates = ((None, client_id), (None, DEFAULT))
        else:
            return None
        for entity in candidates:
            bound = quotas.get(entity)
            if bound is not None:
                return bound
        return None

    def quota(self, principal: str, client_id: str) -> float | None:
        """The quota that applies to requests of ``principal`` with ``client_id`` (None: unlimited)."""
        return self.limit(self.tags(_sanitized(principal), client_id and _sanitized(client_id)))

    # --- measuring -------------------------------------------------------------------------------

    def _sensor(self, principal: str, client_id: str, now_ms: float) -> _Sensor:
        tags = self.tags(_sanitized(principal), _sanitized(client_id) if client_id else "")
        sensor = self._sensors.get(tags)
        if sensor is None:
            if now_ms - self._last_purge_ms >= _PURGE_INTERVAL_MS:
                self._purge(now_ms)
            settings = self.settings
            rate = Rate(samples=settings.window_num, window_ms=settings.window_size_seconds * 1000)
            sensor = self._sensors[tags] = _Sensor(rate, self.limit(tags))
        sensor.last_record_ms = now_ms
        return sensor

    def _purge(self, now_ms: float) -> None:
        self._last_purge_ms = now_ms
        stale = [tags for tags, sensor in self._sensors.items()
                 if now_ms - sensor.last_record_ms >= INACTIVE_SENSOR_EXPIRATION_MS]
        for tags in stale:
            del self._sensors[tags]

    def record(self, principal: str, client_id: str | None, value: float, now_ms: float | None = None) -> int:
        """Record ``value`` (bytes) for the client; the throttle time in ms it earned (0: within its quota)."""
        if not self.enabled:
            return 0
        if now_ms is None:
            now_ms = time.monotonic() * 1000
        sensor = self._sensor(principal, client_id or "", now_ms)
        sensor.rate.record(value, now_ms)
        if sensor.bound is None:
            return 0
        return throttle_time_ms(sensor.rate, sensor.bound, now_ms)

    def unrecord(self, principal: str, client_id: str | None, value: float, now_ms: float | None = None) -> None:
        """Take back a recorded ``value`` (a throttled fetch sends no data)."""
        if self.enabled:
            if now_ms is None:
                now_ms = time.monotonic() * 1000
            self._sensor(principal, client_id or "", now_ms).rate.record(-value, now_ms)

    def max_value_in_window(self, principal: str, client_id: str | None) -> float:
        """The most that can be recorded at once without a certain throttle (Kafka caps a fetch's
        ``max_bytes`` to it): quota * (samples - 1) * window."""
        if not self.enabled:
            return math.inf
        bound = self.quota(principal, client_id or "")
        if bound is None:
            return math.inf
        settings = self.settings
        return bound * (settings.window_num - 1) * settings.window_size_seconds


class ClientQuotas:
    """The broker's client quotas: one manager per enforced kind, kept current from ZooKeeper."""

    KEYS = {PRODUCER_BYTE_RATE: "produce", CONSUMER_BYTE_RATE: "fetch"}
    """The quota keys that are enforced, and the manager of each."""

    def __init__(self, settings: QuotaSettings | None = None) -> None:
        settings = settings or QuotaSettings()
        self.produce = ClientQuotaManager(settings)
        self.fetch = ClientQuotaManager(settings)
        self._configs: dict[Entity, dict[str, str]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._zk: Any = None
        self._lock = threading.Lock()
        self._data_watched: set[str] = set()
        self._children_watched: set[str] = set()
        self._stopped = False

    def user_config(self, user: str) -> dict[str, str]:
        """The ``/config/users/<user>`` znode as last seen (its SCRAM credentials too: SASL reads them here, kept
        current by the same watches, as Kafka's credential cache is by the same config change notifications)."""
        return self._configs.get((_sanitized(user), None), {})

    # --- applying configs ------------------------------------------------------------------------

    def apply(self, entity: Entity, config: dict[str, str] | None) -> None:
        """The entity's znode now says ``config`` (None: gone): update every manager whose quota changed."""
        old = self._configs.pop(entity, {})
        new = config or {}
        if new:
            self._configs[entity] = new
        for key, kind in self.KEYS.items():
            if old.get(key) == new.get(key):
                continue
            manager: ClientQuotaManager = getattr(self, kind)
            raw = new.get(key)
            bound: float | None = None
            if raw is not None:
                try:
                    bound = float(raw)
                except ValueError:
                    log.warning("ignoring %s=%r of quota entity %s: not a number", key, raw, entity)
            log.info("%s quota of %s: %s", kind, md.quota_entity_path(*entity), bound)
            manager.update(entity, bound)

    # --- watching ZooKeeper ----------------------------------------------------------------------

    def watch(self, zk: Any, loop: asyncio.AbstractEventLoop) -> None:
        """Install the watches (blocking: call in a thread); updates reach :meth:`apply` on ``loop``."""
        self._zk, self._loop = zk, loop
        self._watch_children(md.CONFIG_USERS_PATH, self._users_changed)
        self._watch_children(md.CONFIG_CLIENTS_PATH, self._clients_changed)

    def stop(self) -> None:
        self._stopped = True

    def _on_loop(self, entity: Entity, config: dict[str, str] | None) -> None:
        loop = self._loop
        if not self._stopped and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.apply, entity, config)

    def _watch_children(self, path: str, changed: Callable[[list[str]], None]) -> None:
        """Children of ``path``, watched for as long as the broker runs, across its deletion and re-creation."""

        def children(names: list[str]) -> bool | None:
            if self._stopped:
                return False
            changed(names)
            return None

        def data(value: bytes | None, stat: Any) -> bool | None:
            if self._stopped:
                return False
            with self._lock:
                if stat is None:
                    self._children_watched.discard(path)
                    return None
                if path in self._children_watched:
                    return None
                self._children_watched.add(path)
            ChildrenWatch(self._zk, path, children)
            return None

        DataWatch(self._zk, path, data)

    def _watch_entity(self, path: str, entity: Entity) -> None:
        with self._lock:
            if path in self._data_watched:
                return
            self._data_watched.add(path)

        def data(value: bytes | None, stat: Any) -> bool | None:
            if self._stopped:
                return False
            self._on_loop(entity, None if stat is None else md.decode_entity_config(value))
            return None

        DataWatch(self._zk, path, data)

    def _users_changed(self, users: list[str]) -> None:
        for user in users:
            self._watch_entity(f"{md.CONFIG_USERS_PATH}/{user}", (user, None))
            clients_path = md.user_clients_path(user)
            self._watch_children(clients_path, functools.partial(self._user_clients_changed, user))

    def _user_clients_changed(self, user: str, clients: list[str]) -> None:
        for client_id in clients:
            self._watch_entity(f"{md.user_clients_path(user)}/{client_id}", (user, client_id))

    def _clients_changed(self, clients: list[str]) -> None:
        for client_id in clients:
            self._watch_entity(f"{md.CONFIG_CLIENTS_PATH}/{client_id}", (None, client_id))
