"""`kopfka local` and the LocalCluster behind it: options, ports and server.properties, without
starting processes (tests/integration/test_cli.py starts them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafka_broker.cli.main import build_parser
from kafka_broker.local import LocalCluster
from kafka_broker.local.cluster import write_properties
from kafka_broker.local.processes import free_port, log_tail
from kafka_broker.metadata import split_chroot


def test_local_defaults() -> None:
    args = build_parser().parse_args(["local"])
    assert (args.brokers, args.data, args.port, args.zookeeper) == (1, Path("./data"), 9092, None)


def test_fixed_base_port(tmp_path: Path) -> None:
    cluster = LocalCluster(brokers=3, data_dir=tmp_path, port=9092, zookeeper_connect="127.0.0.1:2181/x")
    assert cluster.broker_ports == {1: 9092, 2: 9093, 3: 9094}
    assert cluster.broker_http_ports == {1: 9192, 2: 9193, 3: 9194}
    assert cluster.bootstrap_servers == "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094"


def test_free_ports_are_distinct(tmp_path: Path) -> None:
    cluster = LocalCluster(brokers=3, data_dir=tmp_path, port=0)
    ports = [*cluster.broker_ports.values(), *cluster.broker_http_ports.values()]
    assert len(set(ports)) == 6
    assert cluster.zookeeper is not None and cluster.zookeeper.port not in ports
    assert cluster.zookeeper_connect == f"127.0.0.1:{cluster.zookeeper.port}"


def test_broker_properties(tmp_path: Path) -> None:
    cluster = LocalCluster(
        brokers=2,
        data_dir=tmp_path,
        port=19092,
        zookeeper_connect="zk:2181/c",
        overrides={"num.partitions": "4", "kopfka.http.port": "0"},
        per_broker_overrides={2: {"num.partitions": "8", "broker.rack": "r2"}},
    )
    one, two = cluster.broker_properties(1), cluster.broker_properties(2)
    assert one["broker.id"] == "1"
    assert one["listeners"] == one["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert one["log.dirs"] == str(tmp_path / "broker-1" / "data")
    assert one["zookeeper.connect"] == "zk:2181/c"
    assert one["offsets.topic.replication.factor"] == "2"
    assert (one["num.partitions"], two["num.partitions"], two["broker.rack"]) == ("4", "8", "r2")
    assert cluster.broker_http_ports == {}  # the override disabled HTTP
    assert cluster.properties_path(2) == tmp_path / "broker-2" / "server.properties"
    assert cluster.log_path(2) == tmp_path / "broker-2.log"
    assert cluster.pid_path(2) == tmp_path / "broker-2.pid"


def test_unknown_broker_ids_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="do not exist"):
        LocalCluster(brokers=2, data_dir=tmp_path, per_broker_overrides={3: {}})
    cluster = LocalCluster(brokers=2, data_dir=tmp_path, zookeeper_connect="zk:1")
    with pytest.raises(KeyError):
        cluster.broker_properties(3)


def test_split_chroot() -> None:
    assert split_chroot("a:1,b:2/kafka/x") == ("a:1,b:2", "/kafka/x")
    assert split_chroot("a:1") == ("a:1", "")
    assert split_chroot("a:1/") == ("a:1", "")


def test_write_properties_and_log_tail(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "server.properties"
    write_properties(path, {"a": "1", "b.c": "x=y"})
    assert path.read_text() == "a=1\nb.c=x=y\n"
    log = tmp_path / "log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert log_tail(log, lines=2) == "line 98\nline 99\n"
    assert "no log file" in log_tail(tmp_path / "missing")


def test_free_port_never_repeats() -> None:
    assert len({free_port() for _ in range(20)}) == 20


def test_a_zookeeper_with_sasl_logins_and_one_requiring_them(tmp_path: Path) -> None:
    from kafka_broker.local import ZooKeeperProcess
    from kafka_broker.security.jaas import DIGEST_LOGIN_MODULE, parse_jaas_file

    plain = ZooKeeperProcess(data_dir=tmp_path / "plain", port=2181)
    assert "authProvider" not in plain.write_config().read_text() and not plain.jaas_path.exists()
    assert plain._java_options() == []
    sasl = ZooKeeperProcess(data_dir=tmp_path / "sasl", port=2181, sasl_users={"kafka": 'se"cret', "bob": "b"})
    config = sasl.write_config().read_text().splitlines()
    assert "authProvider.sasl=org.apache.zookeeper.server.auth.SASLAuthenticationProvider" in config
    assert not any(line.startswith("enforce.auth") for line in config)
    (server,) = parse_jaas_file(sasl.jaas_path.read_text())["Server"]
    assert (server.module, dict(server.options)) == (DIGEST_LOGIN_MODULE, {"user_kafka": 'se"cret', "user_bob": "b"})
    assert sasl._java_options() == [f"-Djava.security.auth.login.config={sasl.jaas_path}"]
    required = ZooKeeperProcess(data_dir=tmp_path / "required", port=2181, sasl_users={"kafka": "s"}, require_sasl=True)
    lines = set(required.write_config().read_text().split())
    assert {"enforce.auth.enabled=true", "enforce.auth.schemes=sasl"} <= lines
    with pytest.raises(ValueError, match="require_sasl needs sasl_users"):
        ZooKeeperProcess(data_dir=tmp_path / "nobody", require_sasl=True)


def test_a_cluster_passes_its_env_to_the_brokers_and_logs_in_as_they_do(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_OPTS", raising=False)
    jaas = tmp_path / "jaas.conf"
    jaas.write_text('Client { org.apache.zookeeper.server.auth.DigestLoginModule required username="kafka" '
                    'password="kafka-secret"; };')
    cluster = LocalCluster(brokers=1, data_dir=tmp_path, zookeeper_connect="127.0.0.1:2181",
                           overrides={"zookeeper.set.acl": "true"},
                           env={"KAFKA_OPTS": f"-Djava.security.auth.login.config={jaas}"})
    security = cluster.zookeeper_security()
    assert security.secure_acls and security.login is not None and security.login.username == "kafka"
    assert cluster.env == {"KAFKA_OPTS": f"-Djava.security.auth.login.config={jaas}"}
    plain = LocalCluster(brokers=1, data_dir=tmp_path / "plain", zookeeper_connect="127.0.0.1:2181")
    assert not plain.zookeeper_security().login and not plain.zookeeper_security().secure_acls
