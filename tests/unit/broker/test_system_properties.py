"""The Java system properties kopfka reads from ``KAFKA_OPTS`` for the broker's ZooKeeper login, and
``zookeeper.set.acl``, as broker config."""

from __future__ import annotations

import pytest

from kafka_broker.config import BROKER_CONFIGS, ConfigError, ZooKeeperSaslProperties, build_config, load_config
from kafka_broker.config.system_properties import system_properties

BASE = {"broker.id": "1", "zookeeper.connect": "127.0.0.1:2181"}


def test_d_options_are_read_from_words_split_at_whitespace_as_the_start_scripts_pass_them() -> None:
    opts = ("-Xmx1g  -Djava.security.auth.login.config=/etc/kafka/jaas.conf -Dcom.sun.management.jmxremote\n"
            "\t-Dzookeeper.sasl.client=true -Da=1 -Da=2 -Db=x=y -D -XX:+UseG1GC")
    assert system_properties(opts) == {
        "java.security.auth.login.config": "/etc/kafka/jaas.conf", "com.sun.management.jmxremote": "",
        "zookeeper.sasl.client": "true", "a": "2", "b": "x=y"}
    assert system_properties('-Dk="a b"') == {"k": '"a'}  # quotes are not removed: an unquoted $KAFKA_OPTS


def test_the_zookeeper_login_properties_and_their_defaults() -> None:
    none = ZooKeeperSaslProperties.from_environment({})
    assert none == ZooKeeperSaslProperties()
    assert (none.login_config, none.sasl_enabled, none.section) == (None, True, "Client")
    assert none.describe() == ("[java.security.auth.login.config=null, zookeeper.sasl.client=default:true, "
                               "zookeeper.sasl.clientconfig=default:Client]")
    given = ZooKeeperSaslProperties.from_environment({"KAFKA_OPTS": (
        "-Djava.security.auth.login.config=/j.conf -Dzookeeper.sasl.client=FALSE "
        "-Dzookeeper.sasl.clientconfig=ZkClient")})
    assert (given.login_config, given.sasl_enabled, given.section) == ("/j.conf", False, "ZkClient")
    assert given.describe() == ("[java.security.auth.login.config=/j.conf, zookeeper.sasl.client=FALSE, "
                                "zookeeper.sasl.clientconfig=ZkClient]")
    assert not ZooKeeperSaslProperties(sasl_client="yes").sasl_enabled  # Java's Boolean.parseBoolean


def test_load_config_reads_kafka_opts_from_the_environment_and_build_config_only_what_it_is_given(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_OPTS", "-Djava.security.auth.login.config=/from/env.conf")
    assert load_config(None, BASE).zookeeper.sasl.login_config == "/from/env.conf"
    assert load_config(None, BASE, environ={}).zookeeper.sasl == ZooKeeperSaslProperties()
    assert build_config(BASE).zookeeper.sasl == ZooKeeperSaslProperties()
    given = ZooKeeperSaslProperties(login_config="/x.conf")
    assert build_config(BASE, zookeeper_sasl=given).zookeeper.sasl is given


def test_zookeeper_set_acl_is_applied_with_kafkas_default() -> None:
    row = BROKER_CONFIGS["zookeeper.set.acl"]
    assert (row.default, row.applied) == ("false", True)
    assert build_config(BASE).zookeeper.set_acl is False
    assert build_config({**BASE, "zookeeper.set.acl": "TRUE"}).zookeeper.set_acl is True
    with pytest.raises(ConfigError, match=r"Invalid value yes for configuration zookeeper\.set\.acl"):
        build_config({**BASE, "zookeeper.set.acl": "yes"})
