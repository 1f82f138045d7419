"""Kafka's topic configs: one table that validation, defaults, DescribeConfigs and the log all read.

Each row of :data:`TOPIC_CONFIGS` is a :class:`~kafka_broker.config.definition.ConfigDef` with Kafka
3.9's name, type, default, bounds and a one-line description, plus its broker synonyms — the
``server.properties`` keys that set the topic's default, highest precedence first, with the factor
that converts their unit (``log.retention.hours`` * 3,600,000 = ``retention.ms``). The effective
value of a topic config is, in order: the topic's override (``/config/topics/<t>``), the first broker
synonym that is set, the table default. :func:`effective_value` walks that chain; DescribeConfigs
reports it as the synonyms list.

Every Kafka topic config is accepted, so a config copied from a Kafka cluster (or set by Kafka
Streams, Strimzi, Cruise Control) is never refused; the rows with ``applied=False`` are stored and
reported but not acted on, and the README lists them. Validation follows Kafka's ``LogConfig``:
unknown names (``Unknown topic config name: x``), each value against its row, then the rules between
values (``min.compaction.lag.ms`` ≤ ``max.compaction.lag.ms``; no tiered storage here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .definition import ConfigDef, ConfigError, ConfigType, Value, format_value

__all__ = [
    "COMPRESSION_TYPES",
    "TOPIC_CONFIGS",
    "Synonym",
    "TopicConfigDef",
    "effective_value",
    "parse_topic_config",
    "valid_stored_config",
    "validate_topic_config",
]

LONG_MAX = 2**63 - 1

COMPRESSION_TYPES = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")
"""``compression.type`` values, in Kafka's order (its error message lists them so)."""

HOURS = 3_600_000
MINUTES = 60_000


@dataclass(frozen=True, slots=True)
class Synonym:
    """A ``server.properties`` key that sets a topic config's default: topic value = broker value * scale."""

    name: str
    scale: int = 1


@dataclass(frozen=True, slots=True)
class TopicConfigDef:
    """A topic config and its broker synonyms (highest precedence first)."""

    definition: ConfigDef
    synonyms: tuple[Synonym, ...] = ()

    @property
    def name(self) -> str:
        return self.definition.name


def _topic(
    name: str,
    type: ConfigType,
    default: str | None,
    doc: str,
    *synonyms: str | Synonym,
    minimum: int | float | None = None,
    maximum: int | float | None = None,
    choices: tuple[str, ...] = (),
    check: Callable[[Value], str | None] | None = None,
    applied: bool = True,
) -> TopicConfigDef:
    definition = ConfigDef(name, type, default, doc, minimum=minimum, maximum=maximum, choices=choices,
                           check=check, applied=applied)
    return TopicConfigDef(definition, tuple(s if isinstance(s, Synonym) else Synonym(s) for s in synonyms))


def _gzip_level(value: Value) -> str | None:
    return None if value == -1 or (isinstance(value, int) and 1 <= value <= 9) else "Value must be -1 or in [1, 9]"


def _replica_list(value: Value) -> str | None:
    """``*.replication.throttled.replicas``: ``*`` or ``partition:broker`` pairs."""
    items = value if isinstance(value, tuple) else ()
    if items == ("*",):
        return None
    for item in items:
        partition, _, broker = item.partition(":")
        if not (partition.strip().isdigit() and broker.strip().isdigit()):
            return "Must be the literal '*' or a list of replicas in the following format: " \
                   "[partitionId]:[brokerId],[partitionId]:[brokerId],..."
    return None


_ROWS = [
    _topic("cleanup.policy", ConfigType.LIST, "delete",
           "Retention policy of the log segments: 'delete' drops old segments by time or size, 'compact' keeps "
           "the latest record per key; both may be given.",
           "log.cleanup.policy", choices=("compact", "delete")),
    _topic("compression.type", ConfigType.STRING, "producer",
           "The codec batches are stored in: a codec name recompresses, 'uncompressed' stores them plain, "
           "'producer' keeps the producer's codec.",
           "compression.type", choices=COMPRESSION_TYPES),
    _topic("compression.gzip.level", ConfigType.INT, "-1", "The gzip level when compression.type is gzip.",
           "compression.gzip.level", check=_gzip_level, applied=False),
    _topic("compression.lz4.level", ConfigType.INT, "9", "The lz4 level when compression.type is lz4.",
           "compression.lz4.level", minimum=1, maximum=17, applied=False),
    _topic("compression.zstd.level", ConfigType.INT, "3", "The zstd level when compression.type is zstd.",
           "compression.zstd.level", minimum=-131072, maximum=22, applied=False),
    _topic("delete.retention.ms", ConfigType.LONG, "86400000",
           "How long tombstones of a compacted topic are kept after their segment was cleaned.",
           "log.cleaner.delete.retention.ms", minimum=0),
    _topic("file.delete.delay.ms", ConfigType.LONG, "60000",
           "How long a deleted segment's files stay on disk (readable by in-flight fetches).",
           "log.segment.delete.delay.ms", minimum=0),
    _topic("flush.messages", ConfigType.LONG, str(LONG_MAX),
           "fsync the log after this many records (replication, not fsync, is the durability mechanism).",
           "log.flush.interval.messages", minimum=1),
    _topic("flush.ms", ConfigType.LONG, str(LONG_MAX),
           "fsync the log when the last fsync is older than this many ms.",
           "log.flush.interval.ms", "log.flush.scheduler.interval.ms", minimum=0),
    _topic("follower.replication.throttled.replicas", ConfigType.LIST, "",
           "Replicas ('partition:broker' or '*') whose replication is throttled on the follower side.",
           check=_replica_list),
    _topic("index.interval.bytes", ConfigType.INT, "4096",
           "Log bytes between two entries of the sparse offset index.",
           "log.index.interval.bytes", minimum=0),
    _topic("leader.replication.throttled.replicas", ConfigType.LIST, "",
           "Replicas ('partition:broker' or '*') whose replication is throttled on the leader side.",
           check=_replica_list),
    _topic("local.retention.bytes", ConfigType.LONG, "-2",
           "Tiered storage: local size limit of a partition (-2: retention.bytes). No tiered storage here.",
           "log.local.retention.bytes", minimum=-2, applied=False),
    _topic("local.retention.ms", ConfigType.LONG, "-2",
           "Tiered storage: local time limit of a segment (-2: retention.ms). No tiered storage here.",
           "log.local.retention.ms", minimum=-2, applied=False),
    _topic("max.compaction.lag.ms", ConfigType.LONG, str(LONG_MAX),
           "The longest a record stays ineligible for compaction.",
           "log.cleaner.max.compaction.lag.ms", minimum=1, applied=False),
    _topic("max.message.bytes", ConfigType.INT, "1048588",
           "The largest record batch accepted (after compression), header included.",
           "message.max.bytes", minimum=0),
    _topic("message.downconversion.enable", ConfigType.BOOLEAN, "true",
           "Whether fetches of old message formats are down-converted (kopfka stores format v2 only).",
           "log.message.downconversion.enable", applied=False),
    _topic("message.format.version", ConfigType.STRING, "3.0-IV1",
           "[Deprecated] Message format version; always 3.0 (record batches v2) with current protocols.",
           "log.message.format.version", applied=False),
    _topic("message.timestamp.after.max.ms", ConfigType.LONG, str(LONG_MAX),
           "With CreateTime: how far in the future a record's timestamp may be.",
           "log.message.timestamp.after.max.ms", minimum=0, applied=False),
    _topic("message.timestamp.before.max.ms", ConfigType.LONG, str(LONG_MAX),
           "With CreateTime: how far in the past a record's timestamp may be.",
           "log.message.timestamp.before.max.ms", minimum=0, applied=False),
    _topic("message.timestamp.difference.max.ms", ConfigType.LONG, str(LONG_MAX),
           "[Deprecated] With CreateTime: the largest difference between a record's timestamp and the broker's clock.",
           "log.message.timestamp.difference.max.ms", minimum=0, applied=False),
    _topic("message.timestamp.type", ConfigType.STRING, "CreateTime",
           "Which timestamp records keep: the producer's (CreateTime) or the broker's at append (LogAppendTime).",
           "log.message.timestamp.type", choices=("CreateTime", "LogAppendTime")),
    _topic("min.cleanable.dirty.ratio", ConfigType.DOUBLE, "0.5",
           "Compact a log once its uncleaned part is at least this share of the cleanable log.",
           "log.cleaner.min.cleanable.ratio", minimum=0, maximum=1),
    _topic("min.compaction.lag.ms", ConfigType.LONG, "0",
           "The shortest time a record stays uncompacted.",
           "log.cleaner.min.compaction.lag.ms", minimum=0),
    _topic("min.insync.replicas", ConfigType.INT, "1",
           "With acks=all, the fewest in-sync replicas that must have a write; fewer answers NOT_ENOUGH_REPLICAS.",
           "min.insync.replicas", minimum=1),
    _topic("preallocate", ConfigType.BOOLEAN, "false",
           "Preallocate the file of a new segment on disk.",
           "log.preallocate", applied=False),
    _topic("remote.log.copy.disable", ConfigType.BOOLEAN, "false",
           "Tiered storage: stop copying segments to remote storage. No tiered storage here.", applied=False),
    _topic("remote.log.delete.on.disable", ConfigType.BOOLEAN, "false",
           "Tiered storage: delete remote data when tiered storage is disabled. No tiered storage here.",
           applied=False),
    _topic("remote.storage.enable", ConfigType.BOOLEAN, "false",
           "Tiered storage for this topic. Not available here: only false is accepted.",
           check=lambda value: "Tiered Storage functionality is disabled in the broker. "
                               "Topic cannot be configured with remote log storage." if value else None),
    _topic("retention.bytes", ConfigType.LONG, "-1",
           "Delete the oldest segments while a partition is larger than this (-1: no size limit).",
           "log.retention.bytes"),
    _topic("retention.ms", ConfigType.LONG, "604800000",
           "Delete segments whose newest record is older than this (-1: no time limit).",
           "log.retention.ms", Synonym("log.retention.minutes", MINUTES), Synonym("log.retention.hours", HOURS),
           minimum=-1),
    _topic("segment.bytes", ConfigType.INT, "1073741824",
           "Roll to a new segment when the active one would grow past this many bytes.",
           "log.segment.bytes", minimum=14),
    _topic("segment.index.bytes", ConfigType.INT, "10485760",
           "Size preallocated for each segment's index files; a full index rolls the segment.",
           "log.index.size.max.bytes", minimum=4),
    _topic("segment.jitter.ms", ConfigType.LONG, "0",
           "The largest random jitter subtracted from the time-based roll, to spread rolls out.",
           "log.roll.jitter.ms", Synonym("log.roll.jitter.hours", HOURS), minimum=0, applied=False),
    _topic("segment.ms", ConfigType.LONG, "604800000",
           "Roll the active segment once it is older than this, even if not full.",
           "log.roll.ms", Synonym("log.roll.hours", HOURS), minimum=1),
    _topic("unclean.leader.election.enable", ConfigType.BOOLEAN, "false",
           "Whether a replica outside the ISR may become leader as a last resort (may lose data).",
           "unclean.leader.election.enable"),
]

TOPIC_CONFIGS: dict[str, TopicConfigDef] = {row.name: row for row in _ROWS}
"""Every Kafka 3.9 topic config, by name."""


def parse_topic_config(name: str, raw: object) -> Value:
    """The typed value of topic config ``name``; ConfigError for an unknown name or a bad value."""
    row = TOPIC_CONFIGS.get(name)
    if row is None:
        raise ConfigError(f"Unknown topic config name: {name}")
    return row.definition.parse(raw)


def validate_topic_config(config: Mapping[str, object], *, defaults: Mapping[str, str] | None = None) -> None:
    """Raise ConfigError (Kafka's message) unless every name is a topic config and every value valid,
    alone and together with the others (overrides over ``defaults``)."""
    parsed = {name: parse_topic_config(name, raw) for name, raw in config.items()}
    merged = {name: parse_topic_config(name, raw) for name, raw in (defaults or {}).items()} | parsed
    low = merged.get("min.compaction.lag.ms", TOPIC_CONFIGS["min.compaction.lag.ms"].definition.parse(None))
    high = merged.get("max.compaction.lag.ms", TOPIC_CONFIGS["max.compaction.lag.ms"].definition.parse(None))
    if isinstance(low, int) and isinstance(high, int) and low > high:
        raise ConfigError(f"conflict topic config setting min.compaction.lag.ms ({low}) > "
                          f"max.compaction.lag.ms ({high})")


def valid_stored_config(config: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The entries of a topic's stored overrides that are valid, and why each other one is not.

    Overrides read back from ZooKeeper may have been written by another tool or an older version;
    one bad value must not keep a partition from being hosted or a broker from starting, so it is
    left out (and reported) and the topic runs on the broker default for that key."""
    valid: dict[str, str] = {}
    errors: list[str] = []
    for name, raw in config.items():
        try:
            parse_topic_config(name, raw)
        except ConfigError as exc:
            errors.append(str(exc))
        else:
            valid[name] = raw
    return valid, errors


def effective_value(name: str, broker_props: Mapping[str, str]) -> tuple[str | None, str, str | None]:
    """The broker-level default of topic config ``name``: ``(value, from_key, raw)`` where ``from_key`` is
    the broker synonym that set it (``raw`` its text) or ``name`` itself for the table default (``raw`` None).

    Scaled synonyms convert (hours → ms); a negative scaled value means "unlimited" (-1), as in Kafka.
    """
    row = TOPIC_CONFIGS[name]
    for synonym in row.synonyms:
        raw = broker_props.get(synonym.name)
        if raw is None or (raw.strip() == "" and row.definition.type != ConfigType.LIST):
            continue
        if synonym.scale == 1:
            return format_value(row.definition.parse(raw)), synonym.name, raw
        text = raw.strip()
        definition = ConfigDef(synonym.name, ConfigType.INT, None, "")
        number = definition.parse(text)
        assert isinstance(number, int)
        value = -1 if number < 0 else number * synonym.scale
        return format_value(row.definition.parse(str(value))), synonym.name, raw
    return row.definition.default, name, None
