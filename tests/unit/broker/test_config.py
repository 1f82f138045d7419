import pytest

from kafka_broker.config import ConfigError, build_config, load_config, parse_overrides, parse_properties

BASE = {"broker.id": "1", "zookeeper.connect": "127.0.0.1:2181"}


def test_properties_format_with_comments_and_continuations():
    text = "# comment\n! other\nbroker.id=3\nlisteners: PLAINTEXT://h:9093\nlog.dirs=/a,\\\n  /b\nempty=\n"
    props = parse_properties(text)
    assert props == {"broker.id": "3", "listeners": "PLAINTEXT://h:9093", "log.dirs": "/a,/b", "empty": ""}


def test_defaults_and_advertised_listener():
    config = build_config({**BASE, "listeners": "PLAINTEXT://0.0.0.0:9092"})
    assert config.broker_id == 1
    (listener,) = config.listeners.all
    assert (listener.name, listener.security_protocol, listener.port) == ("PLAINTEXT", "PLAINTEXT", 9092)
    assert listener.advertised == "PLAINTEXT://127.0.0.1:9092"
    assert config.topic_defaults["retention.ms"] == "604800000"
    assert config.min_insync_replicas == 1
    assert config.auto_create_topics_enable is True


def test_socket_buffers_default_to_kafkas_and_minus_one_means_the_os_default():
    config = build_config(BASE)
    assert (config.socket_send_buffer_bytes, config.socket_receive_buffer_bytes) == (102_400, 102_400)
    assert config.replication.replica_socket_receive_buffer_bytes == 65_536
    config = build_config({**BASE, "socket.send.buffer.bytes": "-1", "socket.receive.buffer.bytes": "1048576"})
    assert (config.socket_send_buffer_bytes, config.socket_receive_buffer_bytes) == (-1, 1_048_576)


def test_broker_log_keys_become_topic_defaults():
    config = build_config(
        {
            **BASE,
            "log.retention.hours": "2",
            "log.segment.bytes": "1048576",
            "compression.type": "lz4",
            "min.insync.replicas": "2",
        }
    )
    assert config.topic_defaults["retention.ms"] == str(2 * 3_600_000)
    assert config.topic_defaults["segment.bytes"] == "1048576"
    assert config.topic_defaults["compression.type"] == "lz4"
    assert config.min_insync_replicas == 2


def test_every_topic_config_has_a_broker_default():
    from kafka_broker.config import TOPIC_CONFIGS

    config = build_config(BASE)
    assert set(config.topic_defaults) == set(TOPIC_CONFIGS)
    assert config.topic_defaults["segment.ms"] == "604800000"  # from log.roll.hours' default of 168


def test_negative_retention_hours_mean_unlimited():
    assert build_config({**BASE, "log.retention.hours": "-1"}).topic_defaults["retention.ms"] == "-1"


def test_retention_ms_wins_over_hours():
    config = build_config({**BASE, "log.retention.hours": "2", "log.retention.ms": "1000"})
    assert config.topic_defaults["retention.ms"] == "1000"


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"zookeeper.connect": "z:2181"}, "broker.id"),
        ({"broker.id": "1"}, "zookeeper.connect"),
        ({**BASE, "broker.id": "x"}, "Invalid value x for configuration broker.id: Not a number of type INT"),
        ({**BASE, "listeners": "SSL://h:9093"}, "inter.broker.listener.name must be a listener name defined in"),
        ({**BASE, "listeners": "PLAINTEXT://h:99999"}, "port out of range"),
        ({**BASE, "num.partitions": "0"}, "num.partitions: Value must be at least 1"),
        ({**BASE, "log.segment.bytes": "3000000000"}, "log.segment.bytes: Not a number of type INT"),
        ({**BASE, "log.retention.ms": "1_000"}, "log.retention.ms: Not a number of type LONG"),
        ({**BASE, "log.retention.hours": "two"}, "log.retention.hours: Not a number of type INT"),
        ({**BASE, "compression.type": "brotli"}, "compression.type"),
        ({**BASE, "auto.create.topics.enable": "yes"}, "true or false"),
        ({**BASE, "socket.send.buffer.bytes": "0"}, "socket.send.buffer.bytes: must be -1"),
        ({**BASE, "replica.socket.receive.buffer.bytes": "-2"}, "replica.socket.receive.buffer.bytes: must be -1"),
    ],
)
def test_invalid_values_name_the_key(props, message):
    with pytest.raises(ConfigError, match=message):
        build_config(props)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.properties")


def test_overrides_win_over_file(tmp_path):
    path = tmp_path / "server.properties"
    path.write_text("broker.id=1\nzookeeper.connect=z:2181\nnum.partitions=3\n")
    config = load_config(path, parse_overrides(["num.partitions=6", "broker.id=4"]))
    assert config.num_partitions == 6
    assert config.broker_id == 4
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["novalue"])


@pytest.mark.parametrize("override", ["log.segment.bytes=3000000000", "log.retention.ms=1_000_000"])
def test_a_bad_broker_log_setting_exits_2_with_one_line(tmp_path, capsys, override):
    """It used to pass broker validation and fail in LogConfig with a traceback; now every key is
    checked against the same table as topic configs."""
    from kafka_broker.main import main

    data = tmp_path / "data"
    args = ["--override", "broker.id=1", "--override", "zookeeper.connect=127.0.0.1:1",
            "--override", f"log.dirs={data}", "--override", override]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Invalid value" in err and override.split("=")[0] in err
    assert not data.exists()


def test_node_id_and_broker_id_stand_for_each_other_as_in_kafka():
    assert build_config({"broker.id": "3", "zookeeper.connect": "zk:2181"}).raw["node.id"] == "3"
    config = build_config({"node.id": "4", "zookeeper.connect": "zk:2181"})
    assert config.broker_id == 4 and config.raw["broker.id"] == "4"


def test_kafka_keys_kopfka_does_not_act_on_are_checked_by_type_only():
    from kafka_broker.config import BROKER_CONFIGS, ConfigType
    config = build_config({"broker.id": "1", "zookeeper.connect": "zk:2181", "num.io.threads": "0",
                           "ssl.enabled.protocols": "TLSv1.2, TLSv1.3", "sasl.jaas.config": "x required;",
                           "alter.config.policy.class.name": "com.example.Policy"})
    assert config.raw["num.io.threads"] == "0"
    assert BROKER_CONFIGS["ssl.enabled.protocols"].parse("TLSv1.2, TLSv1.3") == ("TLSv1.2", "TLSv1.3")
    assert BROKER_CONFIGS["sasl.jaas.config"].type == ConfigType.PASSWORD
    assert not BROKER_CONFIGS["transaction.max.timeout.ms"].applied
    with pytest.raises(ConfigError, match=r"Invalid value x for configuration num\.io\.threads: Not a number"):
        build_config({"broker.id": "1", "zookeeper.connect": "zk:2181", "num.io.threads": "x"})
