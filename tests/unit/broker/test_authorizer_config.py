"""The authorizer's keys: ``authorizer.class.name`` names Kafka's AclAuthorizer or nothing, ``super.users`` is
principals, ``allow.everyone.if.no.acl.found`` a boolean — a bad value stops the broker naming the key."""

from __future__ import annotations

import pytest

from kafka_broker.config import BROKER_CONFIGS, ConfigError, build_config

BASE = {"broker.id": "1", "zookeeper.connect": "127.0.0.1:2181", "log.dirs": "/tmp/kopfka-test"}


def test_no_authorizer_by_default() -> None:
    settings = build_config(BASE).authorizer
    assert not settings.enabled and settings.super_user_principals == () and not settings.allow_everyone_if_no_acl_found
    assert BROKER_CONFIGS["authorizer.class.name"].applied
    # the authorizer's own keys are not KafkaConfig keys: DescribeConfigs does not list them as such
    assert "super.users" not in BROKER_CONFIGS and "allow.everyone.if.no.acl.found" not in BROKER_CONFIGS


@pytest.mark.parametrize("class_name", ["kafka.security.authorizer.AclAuthorizer",
                                        " kafka.security.auth.SimpleAclAuthorizer "])
def test_kafkas_acl_authorizer(class_name: str) -> None:
    settings = build_config({**BASE, "authorizer.class.name": class_name, "super.users": " User:admin ;User:CN=a,O=b;",
                             "allow.everyone.if.no.acl.found": " TRUE "}).authorizer
    assert settings.enabled
    assert settings.super_user_principals == ("User:admin", "User:CN=a,O=b")
    assert settings.allow_everyone_if_no_acl_found


@pytest.mark.parametrize(("key", "value", "message"), [
    ("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
     "Invalid value org.apache.kafka.metadata.authorizer.StandardAuthorizer for configuration authorizer.class.name: "
     "kopfka's authorizer is Kafka's AclAuthorizer"),
    ("super.users", "User:admin;alice", "Invalid value User:admin;alice for configuration super.users: expected a "
     "string in format principalType:principalName but got alice"),
    ("allow.everyone.if.no.acl.found", "yes", "Invalid value yes for configuration allow.everyone.if.no.acl.found"),
])
def test_bad_values_name_the_key(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        build_config({**BASE, key: value})
    assert str(error.value).startswith(message)
