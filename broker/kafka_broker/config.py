"""The broker's configuration: Kafka's ``server.properties`` keys, parsed and validated up front.

A bad value stops the broker with a clear message before any data is touched
(:class:`ConfigError`). Settings are grouped by concern in small frozen dataclasses; broker-level
log settings (``log.segment.bytes``…) are kept as the topic-level defaults they become
(``segment.bytes``…), so one mapping serves both the broker and per-topic overrides.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """An invalid or missing configuration value; the message names the key."""


# --- parsing helpers --------------------------------------------------------------------------


def parse_properties(text: str) -> dict[str, str]:
    """Parse Java-style properties text: ``key=value`` or ``key: value``, ``#``/``!`` comments,
    backslash line continuations."""
    props: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        while line.endswith("\\") and i < len(lines):
            line = line[:-1] + lines[i].strip()
            i += 1
        if not line or line[0] in "#!":
            continue
        match = re.match(r"([^=:\s]+)\s*[=:\s]\s*(.*)$", line)
        if match is None:
            props[line] = ""
            continue
        props[match.group(1)] = match.group(2).strip()
    return props


def parse_overrides(overrides: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--override expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _int(props: Mapping[str, str], key: str, default: int, *, minimum: int | None = None) -> int:
    raw = props.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{key}: expected an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{key}: must be >= {minimum}, got {value}")
    return value


def _buffer_bytes(props: Mapping[str, str], key: str, default: int) -> int:
    """A socket buffer size: bytes, or -1 for the operating system's default (as in Kafka)."""
    value = _int(props, key, default)
    if value == 0 or value < -1:
        raise ConfigError(f"{key}: must be -1 (the OS default) or a positive number of bytes, got {value}")
    return value


def _bool(props: Mapping[str, str], key: str, default: bool) -> bool:
    raw = props.get(key)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered not in ("true", "false"):
        raise ConfigError(f"{key}: expected true or false, got {raw!r}")
    return lowered == "true"


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_listener(key: str, value: str) -> Endpoint:
    """``PLAINTEXT://host:port`` (the first listener; kopfka serves PLAINTEXT only)."""
    first = value.split(",")[0].strip()
    match = re.match(r"^(?:([A-Za-z_][A-Za-z0-9_]*)://)?(\[[^\]]*\]|[^:]*):(\d+)$", first)
    if match is None:
        raise ConfigError(f"{key}: expected PLAINTEXT://host:port, got {value!r}")
    protocol, host, port = match.groups()
    if protocol not in (None, "PLAINTEXT"):
        raise ConfigError(f"{key}: only the PLAINTEXT security protocol is supported, got {protocol}")
    port_number = int(port)
    if not 0 <= port_number <= 65535:
        raise ConfigError(f"{key}: port out of range: {port_number}")
    return Endpoint(host.strip("[]"), port_number)


# --- broker-level log keys and the topic-level names they default -----------------------------

#: server.properties key → topic config key (Kafka's names on both sides).
BROKER_TO_TOPIC_KEYS: dict[str, str] = {
    "log.segment.bytes": "segment.bytes",
    "log.roll.ms": "segment.ms",
    "log.retention.ms": "retention.ms",
    "log.retention.bytes": "retention.bytes",
    "log.index.size.max.bytes": "segment.index.bytes",
    "log.index.interval.bytes": "index.interval.bytes",
    "message.max.bytes": "max.message.bytes",
    "compression.type": "compression.type",
    "log.message.timestamp.type": "message.timestamp.type",
    "log.cleanup.policy": "cleanup.policy",
    "log.segment.delete.delay.ms": "file.delete.delay.ms",
    "log.flush.interval.messages": "flush.messages",
    "log.flush.interval.ms": "flush.ms",
    "min.insync.replicas": "min.insync.replicas",
    "unclean.leader.election.enable": "unclean.leader.election.enable",
    "log.cleaner.delete.retention.ms": "delete.retention.ms",
    "log.cleaner.min.cleanable.ratio": "min.cleanable.dirty.ratio",
    "log.cleaner.min.compaction.lag.ms": "min.compaction.lag.ms",
}

#: Topic configs with their Kafka defaults (as strings, the way DescribeConfigs reports them).
TOPIC_CONFIG_DEFAULTS: dict[str, str] = {
    "segment.bytes": "1073741824",
    "segment.ms": "604800000",
    "retention.ms": "604800000",
    "retention.bytes": "-1",
    "segment.index.bytes": "10485760",
    "index.interval.bytes": "4096",
    "max.message.bytes": "1048588",
    "compression.type": "producer",
    "message.timestamp.type": "CreateTime",
    "cleanup.policy": "delete",
    "file.delete.delay.ms": "60000",
    "flush.messages": "9223372036854775807",
    "flush.ms": "9223372036854775807",
    "min.insync.replicas": "1",
    "unclean.leader.election.enable": "false",
    "delete.retention.ms": "86400000",
    "min.cleanable.dirty.ratio": "0.5",
    "min.compaction.lag.ms": "0",
}


def _topic_defaults(props: Mapping[str, str]) -> dict[str, str]:
    """Topic-level defaults from broker-level keys, with Kafka's hours/minutes fallbacks."""
    defaults = dict(TOPIC_CONFIG_DEFAULTS)
    if "log.retention.ms" not in props:
        if "log.retention.minutes" in props:
            defaults["retention.ms"] = str(_int(props, "log.retention.minutes", 0) * 60_000)
        elif "log.retention.hours" in props:
            defaults["retention.ms"] = str(_int(props, "log.retention.hours", 0) * 3_600_000)
    if "log.roll.ms" not in props and "log.roll.hours" in props:
        defaults["segment.ms"] = str(_int(props, "log.roll.hours", 0, minimum=1) * 3_600_000)
    for broker_key, topic_key in BROKER_TO_TOPIC_KEYS.items():
        if broker_key in props:
            defaults[topic_key] = props[broker_key]
    if defaults["retention.ms"].strip() in ("-1",):
        defaults["retention.ms"] = "-1"
    return defaults


# --- grouped settings -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ZooKeeperSettings:
    connect: str
    """``zookeeper.connect``: ``host:port[,host:port][/chroot]``. Required."""
    session_timeout_ms: int = 18_000
    """``zookeeper.session.timeout.ms``: a broker silent this long loses its registration."""
    connection_timeout_ms: int = 18_000
    """``zookeeper.connection.timeout.ms``: how long start-up waits for ZooKeeper."""


@dataclass(frozen=True, slots=True)
class ReplicationSettings:
    default_replication_factor: int = 1
    """``default.replication.factor`` for auto-created topics and CreateTopics with RF -1."""
    replica_lag_time_max_ms: int = 30_000
    """``replica.lag.time.max.ms``: a follower not caught up for this long leaves the ISR."""
    replica_fetch_max_bytes: int = 1_048_576
    """``replica.fetch.max.bytes`` per partition in a follower's fetch."""
    replica_fetch_response_max_bytes: int = 10_485_760
    """``replica.fetch.response.max.bytes`` for a follower's whole fetch."""
    replica_fetch_wait_max_ms: int = 500
    """``replica.fetch.wait.max.ms``: long-poll time of a follower's fetch."""
    replica_fetch_backoff_ms: int = 1_000
    """``replica.fetch.backoff.ms`` after a failed follower fetch."""
    replica_socket_receive_buffer_bytes: int = 65_536
    """``replica.socket.receive.buffer.bytes``: SO_RCVBUF of a follower's connection to its leader (-1: the OS's)."""
    auto_leader_rebalance_enable: bool = True
    """``auto.leader.rebalance.enable``: move leadership back to preferred replicas."""
    leader_imbalance_check_interval_seconds: int = 300
    """``leader.imbalance.check.interval.seconds``."""
    controlled_shutdown_enable: bool = True
    """``controlled.shutdown.enable``: on SIGTERM, move leadership away before exiting."""
    controlled_shutdown_timeout_ms: int = 30_000
    """How long a controlled shutdown waits for leadership to move (kopfka-specific)."""


@dataclass(frozen=True, slots=True)
class GroupSettings:
    offsets_topic_replication_factor: int = 3
    """``offsets.topic.replication.factor`` (capped at the number of live brokers)."""
    offsets_topic_num_partitions: int = 50
    """``offsets.topic.num.partitions``."""
    offsets_topic_segment_bytes: int = 104_857_600
    """``offsets.topic.segment.bytes``."""
    group_initial_rebalance_delay_ms: int = 3_000
    """``group.initial.rebalance.delay.ms``: wait for more members before the first rebalance."""
    group_min_session_timeout_ms: int = 6_000
    group_max_session_timeout_ms: int = 1_800_000
    offsets_retention_minutes: int = 10_080
    transactional_id_expiration_ms: int = 604_800_000


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Everything a broker process needs to start, validated."""

    broker_id: int
    listener: Endpoint
    advertised: Endpoint
    log_dirs: tuple[Path, ...]
    zookeeper: ZooKeeperSettings
    rack: str | None = None
    num_partitions: int = 1
    auto_create_topics_enable: bool = True
    delete_topic_enable: bool = True
    socket_request_max_bytes: int = 104_857_600
    """``socket.request.max.bytes``: larger frames are refused and the connection closed."""
    queued_max_requests: int = 500
    """``queued.max.requests``: requests in flight per connection before reading pauses."""
    socket_send_buffer_bytes: int = 102_400
    """``socket.send.buffer.bytes``: SO_SNDBUF of client connections (-1: the OS's, autotuned)."""
    socket_receive_buffer_bytes: int = 102_400
    """``socket.receive.buffer.bytes``: SO_RCVBUF of client connections (-1: the OS's, autotuned)."""
    log_retention_check_interval_ms: int = 300_000
    http_port: int = 0
    """``kopfka.http.port``: /healthz, /readyz, /metrics (0 = off)."""
    http_host: str = "0.0.0.0"
    topic_defaults: dict[str, str] = field(default_factory=dict)
    """Topic config defaults in topic-level names (``retention.ms``…), from the broker keys."""
    replication: ReplicationSettings = field(default_factory=ReplicationSettings)
    groups: GroupSettings = field(default_factory=GroupSettings)
    raw: dict[str, str] = field(default_factory=dict)
    """The properties as given, for DescribeConfigs on the broker."""

    @property
    def min_insync_replicas(self) -> int:
        return int(self.topic_defaults["min.insync.replicas"])


def load_config(path: str | Path | None, overrides: Mapping[str, str] | None = None) -> BrokerConfig:
    """Read ``server.properties`` (optional) plus overrides, and validate every value."""
    props: dict[str, str] = {}
    if path is not None:
        try:
            props.update(parse_properties(Path(path).read_text()))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    props.update(overrides or {})
    return build_config(props)


def build_config(props: Mapping[str, str]) -> BrokerConfig:
    props = dict(props)
    broker_id = _int(props, "broker.id", -1)
    if broker_id < 0:
        raise ConfigError("broker.id: required, a non-negative integer (automatic ids are not supported)")
    listener = parse_listener("listeners", props.get("listeners", "PLAINTEXT://:9092"))
    advertised_raw = props.get("advertised.listeners")
    if advertised_raw:
        advertised = parse_listener("advertised.listeners", advertised_raw)
    else:
        host = listener.host or "localhost"
        advertised = Endpoint("127.0.0.1" if host in ("0.0.0.0", "::") else host, listener.port)
    log_dirs_raw = props.get("log.dirs") or props.get("log.dir") or "/tmp/kafka-logs"
    log_dirs = tuple(Path(p.strip()) for p in log_dirs_raw.split(",") if p.strip())
    if not log_dirs:
        raise ConfigError("log.dirs: at least one directory is required")
    zk_connect = props.get("zookeeper.connect", "").strip()
    if not zk_connect:
        raise ConfigError("zookeeper.connect: required (host:port[/chroot])")
    zookeeper = ZooKeeperSettings(
        connect=zk_connect,
        session_timeout_ms=_int(props, "zookeeper.session.timeout.ms", 18_000, minimum=1000),
        connection_timeout_ms=_int(props, "zookeeper.connection.timeout.ms", 18_000, minimum=100),
    )
    replication = ReplicationSettings(
        default_replication_factor=_int(props, "default.replication.factor", 1, minimum=1),
        replica_lag_time_max_ms=_int(props, "replica.lag.time.max.ms", 30_000, minimum=1),
        replica_fetch_max_bytes=_int(props, "replica.fetch.max.bytes", 1_048_576, minimum=1),
        replica_fetch_response_max_bytes=_int(
            props, "replica.fetch.response.max.bytes", 10_485_760, minimum=1
        ),
        replica_fetch_wait_max_ms=_int(props, "replica.fetch.wait.max.ms", 500, minimum=0),
        replica_fetch_backoff_ms=_int(props, "replica.fetch.backoff.ms", 1_000, minimum=0),
        replica_socket_receive_buffer_bytes=_buffer_bytes(props, "replica.socket.receive.buffer.bytes", 65_536),
        auto_leader_rebalance_enable=_bool(props, "auto.leader.rebalance.enable", True),
        leader_imbalance_check_interval_seconds=_int(
            props, "leader.imbalance.check.interval.seconds", 300, minimum=1
        ),
        controlled_shutdown_enable=_bool(props, "controlled.shutdown.enable", True),
        controlled_shutdown_timeout_ms=_int(props, "kopfka.controlled.shutdown.timeout.ms", 30_000),
    )
    groups = GroupSettings(
        offsets_topic_replication_factor=_int(props, "offsets.topic.replication.factor", 3, minimum=1),
        offsets_topic_num_partitions=_int(props, "offsets.topic.num.partitions", 50, minimum=1),
        offsets_topic_segment_bytes=_int(props, "offsets.topic.segment.bytes", 104_857_600, minimum=1),
        group_initial_rebalance_delay_ms=_int(props, "group.initial.rebalance.delay.ms", 3_000, minimum=0),
        group_min_session_timeout_ms=_int(props, "group.min.session.timeout.ms", 6_000, minimum=0),
        group_max_session_timeout_ms=_int(props, "group.max.session.timeout.ms", 1_800_000, minimum=0),
        offsets_retention_minutes=_int(props, "offsets.retention.minutes", 10_080, minimum=1),
    )
    topic_defaults = _topic_defaults(props)
    validate_topic_config(topic_defaults, source="server.properties")
    return BrokerConfig(
        broker_id=broker_id,
        listener=listener,
        advertised=advertised,
        log_dirs=log_dirs,
        zookeeper=zookeeper,
        rack=props.get("broker.rack") or None,
        num_partitions=_int(props, "num.partitions", 1, minimum=1),
        auto_create_topics_enable=_bool(props, "auto.create.topics.enable", True),
        delete_topic_enable=_bool(props, "delete.topic.enable", True),
        socket_request_max_bytes=_int(props, "socket.request.max.bytes", 104_857_600, minimum=1024),
        queued_max_requests=_int(props, "queued.max.requests", 500, minimum=1),
        socket_send_buffer_bytes=_buffer_bytes(props, "socket.send.buffer.bytes", 102_400),
        socket_receive_buffer_bytes=_buffer_bytes(props, "socket.receive.buffer.bytes", 102_400),
        log_retention_check_interval_ms=_int(props, "log.retention.check.interval.ms", 300_000, minimum=1),
        http_port=_int(props, "kopfka.http.port", 0, minimum=0),
        http_host=props.get("kopfka.http.host", "0.0.0.0"),
        topic_defaults=topic_defaults,
        replication=replication,
        groups=groups,
        raw=props,
    )


# --- topic configs ----------------------------------------------------------------------------

_COMPRESSION = ("producer", "uncompressed", "gzip", "snappy", "lz4", "zstd")


def _check_int(minimum: int) -> Callable[[str, str], None]:
    def check(key: str, value: str) -> None:
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{key}: expected an integer, got {value!r}") from None
        if number < minimum:
            raise ConfigError(f"{key}: must be >= {minimum}, got {number}")

    return check


def _check_choice(*choices: str) -> Callable[[str, str], None]:
    def check(key: str, value: str) -> None:
        parts = [v.strip() for v in value.split(",")] if key == "cleanup.policy" else [value]
        for part in parts:
            if part not in choices:
                raise ConfigError(f"{key}: expected one of {', '.join(choices)}, got {value!r}")

    return check


def _check_ratio(key: str, value: str) -> None:
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise ConfigError(f"{key}: must be between 0 and 1, got {value}")


def _check_bool(key: str, value: str) -> None:
    if value.lower() not in ("true", "false"):
        raise ConfigError(f"{key}: expected true or false, got {value!r}")


TOPIC_CONFIG_CHECKS: dict[str, Callable[[str, str], None]] = {
    "segment.bytes": _check_int(14),
    "segment.ms": _check_int(1),
    "retention.ms": _check_int(-1),
    "retention.bytes": _check_int(-1),
    "segment.index.bytes": _check_int(8),
    "index.interval.bytes": _check_int(0),
    "max.message.bytes": _check_int(0),
    "compression.type": _check_choice(*_COMPRESSION),
    "message.timestamp.type": _check_choice("CreateTime", "LogAppendTime"),
    "cleanup.policy": _check_choice("delete", "compact"),
    "file.delete.delay.ms": _check_int(0),
    "flush.messages": _check_int(1),
    "flush.ms": _check_int(0),
    "min.insync.replicas": _check_int(1),
    "unclean.leader.election.enable": _check_bool,
    "delete.retention.ms": _check_int(0),
    "min.cleanable.dirty.ratio": _check_ratio,
    "min.compaction.lag.ms": _check_int(0),
}


def validate_topic_config(config: Mapping[str, Any], *, source: str = "topic config") -> None:
    """Raise :class:`ConfigError` for an unknown topic config key or a bad value."""
    for key, value in config.items():
        check = TOPIC_CONFIG_CHECKS.get(key)
        if check is None:
            raise ConfigError(f"{source}: unknown topic config {key!r}")
        check(key, str(value))
