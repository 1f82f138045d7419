"""The broker's configuration: Kafka's ``server.properties`` keys, parsed and validated up front.

:data:`BROKER_CONFIGS` is the one table of broker keys kopfka reads — type, default, bounds and a
line of documentation each, in Kafka's terms (:mod:`kafka_broker.config.definition`) — plus, made from
:data:`~kafka_broker.config.topic.TOPIC_CONFIGS`, the broker synonyms of the topic configs
(``log.retention.hours``, ``log.segment.bytes``…), whose effective values become the topic defaults, plus the
rest of Kafka 3.9's broker keys, stored and reported but not acted on (:mod:`.kafka_broker_keys`). As in Kafka,
``broker.id`` and ``node.id`` stand for each other: the one unset takes the other's value.
The settings dataclasses below declare each field with :func:`setting` against a row of the table and
are filled by :func:`settings_from`, so every default is written once, in the table.

A bad value stops the broker with a one-line message naming the key, before any data is touched
(:class:`ConfigError`, exit 2).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .authorizer import AUTHORIZER_ROWS, AuthorizerSettings
from .definition import ConfigDef, ConfigError, ConfigType, Value, setting, settings_from
from .kafka_broker_keys import KAFKA_ONLY_ROWS
from .listeners import LISTENER_ROWS, Listeners, parse_listeners
from .properties import parse_properties
from .system_properties import ZooKeeperSaslProperties
from .topic import TOPIC_CONFIGS, effective_value, validate_topic_config

__all__ = [
    "BROKER_CONFIGS",
    "BrokerConfig",
    "CleanerSettings",
    "GroupSettings",
    "QuotaSettings",
    "ReplicationSettings",
    "SocketServerSettings",
    "ZooKeeperSettings",
    "build_config",
    "connection_overrides",
    "load_config",
    "topic_defaults",
]

_B, _S, _I, _L = ConfigType.BOOLEAN, ConfigType.STRING, ConfigType.INT, ConfigType.LONG


def _buffer(value: Value) -> str | None:
    """A socket buffer size: bytes, or -1 for the operating system's default (as in Kafka)."""
    return None if value == -1 or (isinstance(value, int) and value > 0) else \
        "must be -1 (the OS default) or a positive number of bytes"


def connection_overrides(value: str) -> dict[str, int]:
    """``max.connections.per.ip.overrides``: ``host:count`` entries, comma-separated (Kafka's format,
    e.g. ``hostName:100,127.0.0.1:200``; the count follows the last colon, so IPv6 addresses work)."""
    overrides: dict[str, int] = {}
    for entry in filter(None, (e.strip() for e in value.split(","))):
        host, colon, count = entry.rpartition(":")
        if not colon or not host.strip() or not count.strip().isdigit():
            raise ValueError(f"expected host:count, got {entry!r}")
        overrides[host.strip().strip("[]")] = int(count)
    return overrides


def _overrides(value: Value) -> str | None:
    try:
        connection_overrides(str(value or ""))
    except ValueError as exc:
        return str(exc)
    return None


_OWN_ROWS = [
    ConfigDef("broker.id", _I, "-1", "This broker's id; required (automatic ids are not supported).",
              check=lambda v: "required, a non-negative integer (automatic ids are not supported)"
              if isinstance(v, int) and v < 0 else None),
    ConfigDef("broker.rack", _S, None, "The rack of the broker, for rack-aware replica placement."),
    ConfigDef("log.dirs", _S, None, "Comma-separated directories the partition logs live in (default: log.dir)."),
    ConfigDef("log.dir", _S, "/tmp/kafka-logs", "The log directory when log.dirs is not set."),
    ConfigDef("zookeeper.connect", _S, None, "ZooKeeper ensemble: host:port[,host:port][/chroot]. Required."),
    ConfigDef("zookeeper.session.timeout.ms", _I, "18000",
              "A broker silent for this long loses its ZooKeeper session and registration.", minimum=1000),
    ConfigDef("zookeeper.connection.timeout.ms", _I, None,
              "How long start-up waits for ZooKeeper (default: the session timeout).", minimum=100),
    ConfigDef("kopfka.zookeeper.reconnect.backoff.max.ms", _I, "1000",
              "Longest wait between attempts to reach ZooKeeper again after losing the connection (kazoo's own "
              "backoff doubles up to an hour, so a broker could stay away long after ZooKeeper is back).",
              minimum=10),
    ConfigDef("zookeeper.set.acl", _B, "false",
              "Create every znode with ALL for the broker's ZooKeeper login (sasl:<user>) and READ for everyone, "
              "nothing for others under /config/users, /config/brokers and /delegation_token/tokens (Kafka's "
              "secure ACLs). Needs the SASL login to ZooKeeper: the JAAS file's Client section named by "
              "-Djava.security.auth.login.config in KAFKA_OPTS (kafka_broker.config.system_properties)."),
    ConfigDef("num.partitions", _I, "1", "Partitions of an auto-created topic.", minimum=1),
    ConfigDef("default.replication.factor", _I, "1",
              "Replication factor of auto-created topics and of CreateTopics asking for -1.", minimum=1),
    ConfigDef("auto.create.topics.enable", _B, "true", "Create a topic when Metadata names one that is missing."),
    ConfigDef("delete.topic.enable", _B, "true", "Whether DeleteTopics may delete topics."),
    ConfigDef("socket.request.max.bytes", _I, "104857600",
              "Largest request frame accepted; a larger one closes the connection.", minimum=1024),
    ConfigDef("queued.max.requests", _I, "500",
              "Requests in flight on one connection before the broker stops reading from it.", minimum=1),
    ConfigDef("queued.max.request.bytes", _L, "-1",
              "Bytes of requests held at once (received, being received, or being handled) before the broker "
              "stops reading more; -1 (unbounded in Kafka): 2 x socket.request.max.bytes.",
              check=lambda v: None if isinstance(v, int) and (v == -1 or v > 0) else "must be -1 or positive"),
    ConfigDef("connections.max.idle.ms", _L, "600000",
              "A connection with nothing received or sent for this long, and no request pending, is closed "
              "(-1: never)."),
    ConfigDef("max.connections", _I, "2147483647",
              "Connections the broker keeps at once; one more is closed as soon as it is accepted.", minimum=0),
    ConfigDef("max.connections.per.ip", _I, "2147483647",
              "Connections kept from one IP address; one more is closed as soon as it is accepted (0 only with "
              "max.connections.per.ip.overrides).", minimum=0),
    ConfigDef("max.connections.per.ip.overrides", _S, "",
              "Per-IP or hostname limits instead of max.connections.per.ip: host:count,... "
              "(e.g. hostName:100,127.0.0.1:200).", check=_overrides),
    ConfigDef("socket.send.buffer.bytes", _I, "102400", "SO_SNDBUF of client connections (-1: the OS's).",
              check=_buffer),
    ConfigDef("socket.receive.buffer.bytes", _I, "102400", "SO_RCVBUF of client connections (-1: the OS's).",
              check=_buffer),
    ConfigDef("log.retention.check.interval.ms", _L, "300000",
              "How often segments are checked for deletion by retention.", minimum=1),
    ConfigDef("log.cleaner.enable", _B, "true", "Run the log cleaner (compaction) at all."),
    ConfigDef("log.cleaner.backoff.ms", _L, "15000", "Sleep between cleaner passes that found nothing to clean.",
              minimum=0),
    ConfigDef("log.cleaner.threads", _I, "1",
              "Partitions the log cleaner compacts at once, each rewrite in its own worker thread.", minimum=0),
    ConfigDef("log.cleaner.dedupe.buffer.size", _L, "134217728",
              "Memory for the cleaner's key map, over all cleaner threads.", applied=False),
    ConfigDef("log.cleaner.io.buffer.size", _I, "524288", "Memory for the cleaner's I/O buffers.", minimum=0,
              applied=False),
    ConfigDef("log.cleaner.io.buffer.load.factor", ConfigType.DOUBLE, "0.9",
              "Load factor of the cleaner's key map.", applied=False),
    ConfigDef("log.cleaner.io.max.bytes.per.second", ConfigType.DOUBLE, "1.7976931348623157E308",
              "Throttle of the cleaner's reads and writes, in bytes/s.", applied=False),
    ConfigDef("leader.replication.throttled.rate", _L, str(2**63 - 1),
              "Bytes/s the leaders on this broker send to the throttled followers of "
              "leader.replication.throttled.replicas.", minimum=0),
    ConfigDef("follower.replication.throttled.rate", _L, str(2**63 - 1),
              "Bytes/s the followers on this broker fetch for the replicas of "
              "follower.replication.throttled.replicas.", minimum=0),
    ConfigDef("replica.alter.log.dirs.io.max.bytes.per.second", _L, str(2**63 - 1),
              "Bytes/s of moves between log directories (kopfka moves none: stored and reported only).", minimum=0,
              applied=False),
    ConfigDef("inter.broker.protocol.version", _S, "3.9-IV0",
              "The protocol version brokers speak to each other; kopfka speaks Kafka 3.9's (reported for tools "
              "that detect a version).", applied=False),
    ConfigDef("replica.lag.time.max.ms", _L, "30000",
              "A follower not caught up for this long leaves the ISR.", minimum=1),
    ConfigDef("replica.fetch.max.bytes", _I, "1048576", "Bytes per partition in a follower's fetch.", minimum=1),
    ConfigDef("replica.fetch.response.max.bytes", _I, "10485760", "Bytes in a follower's whole fetch.", minimum=1),
    ConfigDef("replica.fetch.wait.max.ms", _I, "500", "Long-poll time of a follower's fetch.", minimum=0),
    ConfigDef("replica.fetch.backoff.ms", _I, "1000", "Wait after a failed follower fetch.", minimum=0),
    ConfigDef("replica.socket.receive.buffer.bytes", _I, "65536",
              "SO_RCVBUF of a follower's connection to its leader (-1: the OS's).", check=_buffer),
    ConfigDef("auto.leader.rebalance.enable", _B, "true", "Move leadership back to preferred replicas."),
    ConfigDef("leader.imbalance.check.interval.seconds", _L, "300",
              "How often the controller checks for leaders that are not the preferred replica.", minimum=1),
    ConfigDef("controlled.shutdown.enable", _B, "true", "On SIGTERM, move leadership away before exiting."),
    ConfigDef("kopfka.controlled.shutdown.timeout.ms", _I, "30000",
              "How long a controlled shutdown waits for leadership to move.", minimum=0),
    ConfigDef("offsets.topic.replication.factor", ConfigType.SHORT, "3",
              "Replication factor of __consumer_offsets (capped at the live brokers).", minimum=1),
    ConfigDef("offsets.topic.num.partitions", _I, "50", "Partitions of __consumer_offsets.", minimum=1),
    ConfigDef("offsets.topic.segment.bytes", _I, "104857600", "segment.bytes of __consumer_offsets.", minimum=1),
    ConfigDef("group.initial.rebalance.delay.ms", _I, "3000",
              "How long a new group waits for more members before its first rebalance.", minimum=0),
    ConfigDef("group.min.session.timeout.ms", _I, "6000", "Smallest session timeout a member may ask for.",
              minimum=0),
    ConfigDef("group.max.session.timeout.ms", _I, "1800000", "Largest session timeout a member may ask for.",
              minimum=0),
    ConfigDef("offsets.retention.minutes", _I, "10080", "How long committed offsets of an empty group are kept.",
              minimum=1),
    ConfigDef("transactional.id.expiration.ms", _I, "604800000",
              "How long an idle transactional id is kept.", minimum=1, applied=False),
    ConfigDef("quota.window.num", _I, "11", "The number of samples to retain in memory for client quotas.",
              minimum=1),
    ConfigDef("quota.window.size.seconds", _I, "1", "The time span of each sample for client quotas.", minimum=1),
    ConfigDef("replication.quota.window.num", _I, "11",
              "The number of samples to retain in memory for replication quotas.", minimum=1),
    ConfigDef("replication.quota.window.size.seconds", _I, "1",
              "The time span of each sample for replication quotas.", minimum=1),
    ConfigDef("kopfka.http.port", _I, "0", "Port of /healthz, /readyz and /metrics (0: off).", minimum=0,
              maximum=65535),
    ConfigDef("kopfka.http.host", _S, "0.0.0.0", "Address the HTTP endpoints listen on."),
]


def _synonym_rows() -> list[ConfigDef]:
    """Broker keys that set topic defaults. As in Kafka, the last synonym of a topic config carries the
    default (in its own unit); the others are unset unless given."""
    rows: dict[str, ConfigDef] = {}
    for topic in TOPIC_CONFIGS.values():
        base = topic.definition
        for position, synonym in enumerate(topic.synonyms):
            last = position == len(topic.synonyms) - 1
            if synonym.scale == 1:
                default = base.default if last else None
                rows[synonym.name] = ConfigDef(synonym.name, base.type, default, base.doc, minimum=base.minimum,
                                               maximum=base.maximum, choices=base.choices, check=base.check,
                                               applied=base.applied)
            else:
                default = str(int(base.default) // synonym.scale) if last and base.default else None
                rows[synonym.name] = ConfigDef(synonym.name, _I, default, f"{base.doc} (in units of "
                                               f"{synonym.scale // 1000} s)", applied=base.applied)
    return list(rows.values())


BROKER_CONFIGS: dict[str, ConfigDef] = {
    row.name: row for row in [*_OWN_ROWS, *LISTENER_ROWS, *AUTHORIZER_ROWS, *_synonym_rows(), *KAFKA_ONLY_ROWS]}
"""Every broker key kopfka reads, by name: its own rows, the listeners' (:mod:`.listeners`), the topic configs' broker
synonyms, and the keys of Kafka
3.9 for features kopfka does not have (:mod:`.kafka_broker_keys`) — together every key Kafka 3.9 reports."""


# --- grouped settings -------------------------------------------------------------------------

_C = BROKER_CONFIGS


@dataclass(frozen=True, slots=True)
class ZooKeeperSettings:
    connect: str
    """``zookeeper.connect``: ``host:port[,host:port][/chroot]``. Required."""
    session_timeout_ms: int = setting(_C["zookeeper.session.timeout.ms"])
    connection_timeout_ms: int = setting(_C["zookeeper.session.timeout.ms"])
    """``zookeeper.connection.timeout.ms``; defaults to the session timeout."""
    reconnect_backoff_max_ms: int = setting(_C["kopfka.zookeeper.reconnect.backoff.max.ms"])
    set_acl: bool = setting(_C["zookeeper.set.acl"])
    sasl: ZooKeeperSaslProperties = field(default_factory=ZooKeeperSaslProperties)
    """How the broker logs in to ZooKeeper: the system properties of ``KAFKA_OPTS`` (:mod:`.system_properties`)."""


@dataclass(frozen=True, slots=True)
class ReplicationSettings:
    default_replication_factor: int = setting(_C["default.replication.factor"])
    replica_lag_time_max_ms: int = setting(_C["replica.lag.time.max.ms"])
    replica_fetch_max_bytes: int = setting(_C["replica.fetch.max.bytes"])
    replica_fetch_response_max_bytes: int = setting(_C["replica.fetch.response.max.bytes"])
    replica_fetch_wait_max_ms: int = setting(_C["replica.fetch.wait.max.ms"])
    replica_fetch_backoff_ms: int = setting(_C["replica.fetch.backoff.ms"])
    replica_socket_receive_buffer_bytes: int = setting(_C["replica.socket.receive.buffer.bytes"])
    auto_leader_rebalance_enable: bool = setting(_C["auto.leader.rebalance.enable"])
    leader_imbalance_check_interval_seconds: int = setting(_C["leader.imbalance.check.interval.seconds"])
    controlled_shutdown_enable: bool = setting(_C["controlled.shutdown.enable"])
    controlled_shutdown_timeout_ms: int = setting(_C["kopfka.controlled.shutdown.timeout.ms"])


@dataclass(frozen=True, slots=True)
class GroupSettings:
    offsets_topic_replication_factor: int = setting(_C["offsets.topic.replication.factor"])
    offsets_topic_num_partitions: int = setting(_C["offsets.topic.num.partitions"])
    offsets_topic_segment_bytes: int = setting(_C["offsets.topic.segment.bytes"])
    group_initial_rebalance_delay_ms: int = setting(_C["group.initial.rebalance.delay.ms"])
    group_min_session_timeout_ms: int = setting(_C["group.min.session.timeout.ms"])
    group_max_session_timeout_ms: int = setting(_C["group.max.session.timeout.ms"])
    offsets_retention_minutes: int = setting(_C["offsets.retention.minutes"])
    transactional_id_expiration_ms: int = setting(_C["transactional.id.expiration.ms"])


@dataclass(frozen=True, slots=True)
class SocketServerSettings:
    """What one listener allows its clients (Kafka's SocketServer keys): the request bytes it holds,
    how many connections, for how long idle."""

    queued_max_request_bytes: int = setting(_C["queued.max.request.bytes"])
    connections_max_idle_ms: int = setting(_C["connections.max.idle.ms"])
    max_connections: int = setting(_C["max.connections"])
    max_connections_per_ip: int = setting(_C["max.connections.per.ip"])
    max_connections_per_ip_overrides: str = setting(_C["max.connections.per.ip.overrides"])


@dataclass(frozen=True, slots=True)
class QuotaSettings:
    """How client byte rates and replication throttles are measured (Kafka's ``QuotaConfig``): over
    ``quota.window.num`` samples of ``quota.window.size.seconds`` each, and ``replication.quota.window.*``."""

    window_num: int = setting(_C["quota.window.num"])
    window_size_seconds: int = setting(_C["quota.window.size.seconds"])
    replication_window_num: int = setting(_C["replication.quota.window.num"])
    """Samples of the replication throttles' rates (``leader/follower.replication.throttled.rate``)."""
    replication_window_size_seconds: int = setting(_C["replication.quota.window.size.seconds"])


@dataclass(frozen=True, slots=True)
class CleanerSettings:
    """The log cleaner's broker-level settings."""

    enable: bool = setting(_C["log.cleaner.enable"])
    backoff_ms: int = setting(_C["log.cleaner.backoff.ms"])
    threads: int = setting(_C["log.cleaner.threads"])


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Everything a broker process needs to start, validated. Field docs: :data:`BROKER_CONFIGS`."""

    broker_id: int
    listeners: Listeners
    log_dirs: tuple[Path, ...]
    zookeeper: ZooKeeperSettings
    rack: str | None = setting(_C["broker.rack"])
    num_partitions: int = setting(_C["num.partitions"])
    auto_create_topics_enable: bool = setting(_C["auto.create.topics.enable"])
    delete_topic_enable: bool = setting(_C["delete.topic.enable"])
    socket_request_max_bytes: int = setting(_C["socket.request.max.bytes"])
    queued_max_requests: int = setting(_C["queued.max.requests"])
    socket_send_buffer_bytes: int = setting(_C["socket.send.buffer.bytes"])
    socket_receive_buffer_bytes: int = setting(_C["socket.receive.buffer.bytes"])
    log_retention_check_interval_ms: int = setting(_C["log.retention.check.interval.ms"])
    http_port: int = setting(_C["kopfka.http.port"])
    http_host: str = setting(_C["kopfka.http.host"])
    topic_defaults: dict[str, str] = field(default_factory=dict)
    """Every topic config's broker-level default, by topic config name (``retention.ms``…)."""
    replication: ReplicationSettings = field(default_factory=ReplicationSettings)
    groups: GroupSettings = field(default_factory=GroupSettings)
    cleaner: CleanerSettings = field(default_factory=CleanerSettings)
    socket_server: SocketServerSettings = field(default_factory=SocketServerSettings)
    quotas: QuotaSettings = field(default_factory=QuotaSettings)
    authorizer: AuthorizerSettings = field(default_factory=AuthorizerSettings)
    raw: dict[str, str] = field(default_factory=dict)
    """The properties as given, for DescribeConfigs on the broker."""

    @property
    def min_insync_replicas(self) -> int:
        return int(self.topic_defaults["min.insync.replicas"])


# --- loading --------------------------------------------------------------------------------------

def load_config(path: str | Path | None, overrides: Mapping[str, str] | None = None, *,
                environ: Mapping[str, str] | None = None) -> BrokerConfig:
    """Read ``server.properties`` (optional) plus overrides, and validate every value; the Java system properties
    kopfka honours come from ``environ``'s ``KAFKA_OPTS`` (default: this process's environment)."""
    props: dict[str, str] = {}
    if path is not None:
        try:
            props.update(parse_properties(Path(path).read_text()))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    props.update(overrides or {})
    return build_config(props, zookeeper_sasl=ZooKeeperSaslProperties.from_environment(
        os.environ if environ is None else environ))


def _value(props: Mapping[str, str], key: str) -> Value:
    raw = props.get(key)
    return BROKER_CONFIGS[key].parse(None if raw is None or raw.strip() == "" else raw)


def _int_value(props: Mapping[str, str], key: str) -> int:
    value = _value(props, key)
    assert isinstance(value, int), key
    return value


def topic_defaults(props: Mapping[str, str]) -> dict[str, str]:
    """Every topic config's broker-level default: its first broker synonym that is set, else the table's."""
    defaults: dict[str, str] = {}
    for name in TOPIC_CONFIGS:
        value, _, _ = effective_value(name, props)
        if value is not None:
            defaults[name] = value
    validate_topic_config(defaults)
    return defaults


def _with_id_synonyms(props: Mapping[str, str]) -> dict[str, str]:
    """``props`` with ``node.id`` set to ``broker.id`` when only that is set, or the reverse (Kafka's
    ``KafkaConfig.populateSynonyms``), so DescribeConfigs reports both as set in server.properties."""
    props = dict(props)
    if "broker.id" in props and "node.id" not in props:
        props["node.id"] = props["broker.id"]
    elif "node.id" in props and "broker.id" not in props:
        props["broker.id"] = props["node.id"]
    return props


def build_config(props: Mapping[str, str], *,
                 zookeeper_sasl: ZooKeeperSaslProperties | None = None) -> BrokerConfig:
    """Validate ``props`` against :data:`BROKER_CONFIGS` (and the topic configs they default); ``zookeeper_sasl``
    are the system properties of the broker's ZooKeeper login (default: none set)."""
    props = _with_id_synonyms(props)
    for key, raw in props.items():
        definition = BROKER_CONFIGS.get(key)
        if definition is not None and raw.strip() != "":
            definition.parse(raw)
    listeners = parse_listeners(props)
    log_dirs_raw = str(_value(props, "log.dirs") or _value(props, "log.dir"))
    log_dirs = tuple(Path(p.strip()) for p in log_dirs_raw.split(",") if p.strip())
    if not log_dirs:
        raise ConfigError("log.dirs: at least one directory is required")
    zk_connect = str(_value(props, "zookeeper.connect") or "").strip()
    if not zk_connect:
        raise ConfigError("zookeeper.connect: required (host:port[/chroot])")
    session_timeout = _int_value(props, "zookeeper.session.timeout.ms")
    connection_timeout = _value(props, "zookeeper.connection.timeout.ms")
    zookeeper = ZooKeeperSettings(
        connect=zk_connect,
        session_timeout_ms=session_timeout,
        connection_timeout_ms=connection_timeout if isinstance(connection_timeout, int) else session_timeout,
        reconnect_backoff_max_ms=_int_value(props, "kopfka.zookeeper.reconnect.backoff.max.ms"),
        set_acl=_value(props, "zookeeper.set.acl") is True,
        sasl=zookeeper_sasl or ZooKeeperSaslProperties(),
    )
    broker_id = _int_value(props, "broker.id")
    socket_server = settings_from(SocketServerSettings, props)
    if 0 < socket_server.queued_max_request_bytes < _int_value(props, "socket.request.max.bytes"):
        raise ConfigError("queued.max.request.bytes must be larger or equal to socket.request.max.bytes")
    if socket_server.max_connections_per_ip == 0 and not connection_overrides(
            socket_server.max_connections_per_ip_overrides):
        raise ConfigError("max.connections.per.ip can be set to zero only if max.connections.per.ip.overrides "
                          "property is set.")
    return settings_from(
        BrokerConfig,
        props,
        broker_id=broker_id,
        listeners=listeners,
        log_dirs=log_dirs,
        zookeeper=zookeeper,
        rack=_value(props, "broker.rack") or None,
        topic_defaults=topic_defaults(props),
        replication=settings_from(ReplicationSettings, props),
        groups=settings_from(GroupSettings, props),
        cleaner=settings_from(CleanerSettings, props),
        socket_server=socket_server,
        quotas=settings_from(QuotaSettings, props),
        authorizer=settings_from(AuthorizerSettings, props),
        raw=props,
    )
