"""Dynamic broker configs: which keys may change without a restart, at which level, and how a key's value
is resolved across the levels — Kafka's ``DynamicBrokerConfig`` rules.

Levels, highest precedence first (the sources DescribeConfigs reports)::

    DYNAMIC_BROKER_CONFIG          /config/brokers/<id>         this broker only
    DYNAMIC_DEFAULT_BROKER_CONFIG  /config/brokers/<default>    every broker of the cluster
    STATIC_BROKER_CONFIG           server.properties (+ --override)
    DEFAULT_CONFIG                 the table default (:data:`~kafka_broker.config.BROKER_CONFIGS`)

The effective properties are the four merged in that order, so a key set at a higher level hides the same key
below, and a group of synonyms (``log.retention.ms`` > ``log.retention.minutes`` > ``log.retention.hours``)
is then resolved as it is for server.properties alone: ``log.retention.ms`` set dynamically wins over a static
``log.retention.hours``.

Which keys are dynamic (:data:`DYNAMIC_CONFIGS`) follows Kafka 3.9: the *first* broker synonym of every topic
config except ``message.format.version`` (so ``log.retention.ms`` is dynamic, ``log.retention.hours`` is not),
the cleaner's keys, the socket server's connection limits, the replication throttles and the other keys Kafka
lists. Keys Kafka also allows per broker but kopfka cannot change while running (``listeners``,
``advertised.listeners``, ``listener.security.protocol.map``: the socket is bound at start) are refused as static
ones are. Kafka's TLS and SASL keys are dynamic per broker, as in Kafka (stored, not acted on: kopfka serves
PLAINTEXT only); the keystore and truststore ones only with a listener prefix, which makes them custom keys.
A key kopfka does not know is accepted and stored as a custom config, as Kafka does.
:func:`validate_dynamic` gives Kafka's messages: ``Cannot update these configs dynamically: Set(broker.id)``,
``Cannot update these configs at default cluster level, broker id must be specified: Set(...)``, ``These
security configs can be dynamically updated only per-listener using the listener prefix: Set(...)``,
``Invalid value 0 for configuration min.insync.replicas: Value must be at least 1``
(all INVALID_REQUEST on the wire, as Kafka's
``ConfigAdminManager`` answers).

:func:`broker_synonyms` and :func:`synonym_chain` build the synonyms list of DescribeConfigs as Kafka's
``ConfigHelper`` does: for each level in order, each synonym of the key's group present at that level; then
everything before the first entry named like the key itself is dropped (so ``log.retention.minutes``, unset,
reports no synonyms, and ``retention.ms`` of a topic reports none while ``log.retention.ms`` is unset).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum

from .broker import BROKER_CONFIGS, topic_defaults
from .definition import ConfigError
from .topic import TOPIC_CONFIGS

__all__ = [
    "DYNAMIC_CONFIGS",
    "PER_BROKER_CONFIGS",
    "UNLISTED_UNLESS_SET",
    "ConfigSource",
    "Levels",
    "broker_synonyms",
    "merged",
    "scala_set",
    "synonym_chain",
    "validate_dynamic",
]


class ConfigSource(IntEnum):
    """Where a config value comes from, numbered as DescribeConfigs reports it."""

    UNKNOWN = 0
    TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5


_NOT_RECONFIGURABLE_TOPIC_CONFIGS = frozenset({"message.format.version"})

_LOG_CONFIGS = frozenset(
    row.synonyms[0].name for row in TOPIC_CONFIGS.values()
    if row.synonyms and row.name not in _NOT_RECONFIGURABLE_TOPIC_CONFIGS
)
"""Kafka's ``DynamicLogConfig.ReconfigurableConfigs``: the main broker synonym of each topic config."""

_CLEANER_CONFIGS = frozenset({
    "log.cleaner.threads", "log.cleaner.dedupe.buffer.size", "log.cleaner.io.buffer.load.factor",
    "log.cleaner.io.buffer.size", "message.max.bytes", "log.cleaner.io.max.bytes.per.second",
    "log.cleaner.backoff.ms",
})
_THREAD_POOL_CONFIGS = frozenset({
    "num.io.threads", "num.replica.fetchers", "num.recovery.threads.per.data.dir", "background.threads",
    "num.network.threads",
})
_SOCKET_SERVER_CONFIGS = frozenset({
    "max.connections.per.ip", "max.connections.per.ip.overrides", "max.connections", "max.connection.creation.rate",
})
_QUOTA_CONFIGS = frozenset({
    "leader.replication.throttled.rate", "follower.replication.throttled.rate",
    "replica.alter.log.dirs.io.max.bytes.per.second",
})
UNLISTED_UNLESS_SET: frozenset[str] = _QUOTA_CONFIGS
"""Broker keys outside Kafka's ``KafkaConfig`` (its ``DynamicConfig.Broker`` quota keys): Kafka's DescribeConfigs
lists them only where some level sets them, and never with a DEFAULT_CONFIG synonym."""
_SECURITY_CONFIGS = frozenset({
    "ssl.keystore.type", "ssl.keystore.location", "ssl.keystore.password", "ssl.key.password", "ssl.truststore.type",
    "ssl.truststore.location", "ssl.truststore.password", "ssl.keystore.certificate.chain", "ssl.keystore.key",
    "ssl.truststore.certificates",
})
"""Kafka's ``DynamicSecurityConfigs``: dynamic only with a listener prefix (``listener.name.<l>.ssl.keystore…``)."""
_LISTENER_SECURITY_CONFIGS = frozenset({
    "principal.builder.class", "ssl.protocol", "ssl.provider", "ssl.cipher.suites", "ssl.enabled.protocols",
    "ssl.keymanager.algorithm", "ssl.trustmanager.algorithm", "ssl.endpoint.identification.algorithm",
    "ssl.secure.random.implementation", "ssl.client.auth", "ssl.engine.factory.class",
    "sasl.mechanism.inter.broker.protocol", "sasl.jaas.config", "sasl.enabled.mechanisms", "sasl.kerberos.service.name",
    "sasl.kerberos.kinit.cmd", "sasl.kerberos.ticket.renew.window.factor", "sasl.kerberos.ticket.renew.jitter",
    "sasl.kerberos.min.time.before.relogin", "sasl.kerberos.principal.to.local.rules",
    "sasl.login.refresh.window.factor", "sasl.login.refresh.window.jitter", "sasl.login.refresh.min.period.seconds",
    "sasl.login.refresh.buffer.seconds",
})
"""The TLS and SASL keys of Kafka's ``DynamicListenerConfig``: per broker. kopfka serves neither, so a change is
stored and reported, never acted on (as their rows say: ``applied=False``)."""
_OTHER_CONFIGS = frozenset({
    "metric.reporters", "producer.id.expiration.ms", "transaction.partition.verification.enable",
    "remote.log.index.file.cache.total.size.bytes", "remote.fetch.max.wait.ms",
    "remote.log.manager.copy.max.bytes.per.second", "remote.log.manager.fetch.max.bytes.per.second",
    "remote.list.offsets.request.timeout.ms",
})

DYNAMIC_CONFIGS: frozenset[str] = (
    _LOG_CONFIGS | _CLEANER_CONFIGS | _THREAD_POOL_CONFIGS | _SOCKET_SERVER_CONFIGS | _QUOTA_CONFIGS | _OTHER_CONFIGS
    | _SECURITY_CONFIGS | _LISTENER_SECURITY_CONFIGS
)
"""Every key that may be set in ``/config/brokers/...`` (Kafka's ``AllDynamicConfigs`` plus the broker quota
configs, less the listener keys kopfka cannot change while running)."""

PER_BROKER_CONFIGS: frozenset[str] = _SECURITY_CONFIGS | _LISTENER_SECURITY_CONFIGS
"""Dynamic keys that may only be set for one broker, never as the cluster default: Kafka's TLS and SASL keys (its
listener keys kopfka refuses dynamically altogether, see the module docstring)."""

_KAFKA_PER_BROKER_CONFIGS = frozenset({"listeners", "advertised.listeners", "listener.security.protocol.map"})
"""Kafka's per-broker keys that kopfka knows: at the default level they get Kafka's per-broker message."""

Levels = tuple[Mapping[str, str], Mapping[str, str], Mapping[str, str]]
"""(per-broker dynamic, cluster-default dynamic, static) properties."""

_LEVEL_SOURCES = (ConfigSource.DYNAMIC_BROKER_CONFIG, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG,
                  ConfigSource.STATIC_BROKER_CONFIG)


def scala_set(names: Iterable[str]) -> str:
    """Names as Kafka's messages print a Scala set: ``Set(a, b)`` (sorted here, for stable messages)."""
    return f"Set({', '.join(sorted(names))})"


def merged(levels: Levels) -> dict[str, str]:
    """The effective properties: static, overlaid by the cluster default, overlaid by the per-broker configs."""
    per_broker, cluster_default, static = levels
    return {**static, **cluster_default, **per_broker}


def validate_dynamic(props: Mapping[str, str], *, per_broker: bool, static: Mapping[str, str] | None = None,
                     cluster_default: Mapping[str, str] | None = None) -> None:
    """Raise ConfigError (Kafka's message) unless ``props`` may be stored as the dynamic configs of one broker
    (``per_broker``) or as the cluster default. ``static`` and ``cluster_default`` (the other levels) check the
    topic defaults they make together (``min.compaction.lag.ms`` ≤ ``max.compaction.lag.ms``)."""
    static_keys = {
        name for name in props
        if name in BROKER_CONFIGS and name not in DYNAMIC_CONFIGS and (per_broker or name not in
                                                                        _KAFKA_PER_BROKER_CONFIGS)
    }
    if static_keys:
        raise ConfigError(f"Cannot update these configs dynamically: {scala_set(static_keys)}")
    unprefixed = {name for name in props if name in _SECURITY_CONFIGS}
    if unprefixed:
        raise ConfigError("These security configs can be dynamically updated only per-listener using the listener "
                          f"prefix: {scala_set(unprefixed)}")
    if not per_broker:
        broker_only = {name for name in props if name in PER_BROKER_CONFIGS or name in _KAFKA_PER_BROKER_CONFIGS}
        if broker_only:
            raise ConfigError("Cannot update these configs at default cluster level, broker id must be specified: "
                              f"{scala_set(broker_only)}")
    for name, raw in props.items():
        definition = BROKER_CONFIGS.get(name)
        if definition is not None:
            definition.parse(raw)
    threads = props.get("log.cleaner.threads")
    if threads is not None and int(threads) < 1:
        raise ConfigError("Log cleaner threads should be at least 1")
    levels: Levels = (props, cluster_default or {}, static or {}) if per_broker else \
        ({}, props, static or {})
    topic_defaults(merged(levels))


def broker_synonyms(name: str) -> tuple[str, ...]:
    """The broker keys that set the same thing as ``name``, highest precedence first (``log.retention.ms``,
    ``log.retention.minutes``, ``log.retention.hours``), or ``name`` alone."""
    for row in TOPIC_CONFIGS.values():
        names = tuple(s.name for s in row.synonyms)
        if len(names) > 1 and name in names:
            return names
    return (name,)


def synonym_chain(name: str, levels: Levels) -> list[tuple[str, str | None, ConfigSource]]:
    """DescribeConfigs' synonyms of broker key ``name``: ``(key, value, source)`` (see the module docstring)."""
    names = broker_synonyms(name)
    chain: list[tuple[str, str | None, ConfigSource]] = []
    for level, source in zip(levels, _LEVEL_SOURCES, strict=True):
        chain.extend((n, level[n], source) for n in names if n in level)
    for n in names:
        definition = BROKER_CONFIGS.get(n)
        if definition is not None and definition.default is not None and n not in UNLISTED_UNLESS_SET:
            chain.append((n, definition.default, ConfigSource.DEFAULT_CONFIG))
    for index, (n, _, _) in enumerate(chain):
        if n == name:
            return chain[index:]
    return []
