import pytest

from kafka_broker.storage.log_config import LONG_MAX, LogConfig


def test_kafka_defaults():
    config = LogConfig()
    assert config.segment_bytes == 1073741824 and config.segment_ms == 604800000
    assert config.segment_index_bytes == 10485760 and config.index_interval_bytes == 4096
    assert config.retention_ms == 604800000 and config.retention_bytes == -1
    assert config.max_message_bytes == 1048588 and config.file_delete_delay_ms == 60000
    assert config.compression_type == "producer" and config.codec is None
    assert config.message_timestamp_type == "CreateTime" and not config.log_append_time
    assert config.cleanup_policy == ("delete",) and config.deletes and not config.compacts
    assert config.flush_messages == config.flush_ms == LONG_MAX


def test_from_kafka_applies_and_ignores_others():
    base = LogConfig(retention_ms=1000)
    config = LogConfig.from_kafka(
        {
            "segment.bytes": "1048576",
            "retention.bytes": " 5000 ",
            "compression.type": "lz4",
            "message.timestamp.type": "LogAppendTime",
            "cleanup.policy": "compact, delete",
            "min.insync.replicas": "2",
        },
        base,
    )
    assert config.segment_bytes == 1048576 and config.retention_bytes == 5000 and config.retention_ms == 1000
    assert config.codec == 3 and config.log_append_time and config.compacts and config.deletes
    assert config.cleanup_policy == ("compact", "delete")
    assert LogConfig.from_kafka(config.to_kafka()) == config
    assert set(LogConfig.TOPIC_CONFIG_NAMES) == set(config.to_kafka())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("segment.bytes", "13"),
        ("segment.bytes", "2147483648"),
        ("segment.bytes", "1e6"),
        ("segment.ms", "0"),
        ("retention.ms", "-2"),
        ("retention.bytes", "lots"),
        ("compression.type", "brotli"),
        ("compression.type", "none"),
        ("message.timestamp.type", "createtime"),
        ("cleanup.policy", "forever"),
        ("flush.messages", "0"),
        ("index.interval.bytes", "-1"),
        ("max.message.bytes", "1_000"),
    ],
)
def test_invalid_values_name_the_property(name, value):
    with pytest.raises(ValueError, match=name.replace(".", r"\.")):
        LogConfig.from_kafka({name: value})


def test_messages_are_kafkas():
    with pytest.raises(ValueError, match=r"^Invalid value 3000000000 for configuration segment\.bytes: "
                                         r"Not a number of type INT$"):
        LogConfig.from_kafka({"segment.bytes": "3000000000"})
    with pytest.raises(ValueError, match=r"^Invalid value 13 for configuration segment\.bytes: "
                                         r"Value must be at least 14$"):
        LogConfig.from_kafka({"segment.bytes": "13"})


def test_an_empty_cleanup_policy_neither_deletes_nor_compacts():
    config = LogConfig.from_kafka({"cleanup.policy": ""})
    assert config.cleanup_policy == () and not config.deletes and not config.compacts


def test_direct_construction_is_validated():
    with pytest.raises(ValueError):
        LogConfig(compression_type="brotli")
