"""The ACL znodes' paths and formats (:mod:`kafka_broker.metadata`), byte for byte as Apache Kafka 3.9.2 writes
them (the expected bytes are what a Kafka 3.9.2 broker wrote for ``kafka-acls --add``)."""

from __future__ import annotations

import pytest

from kafka_broker import metadata as md

ALICE_WRITE = md.AclZnodeEntry("User:alice", "Allow", "Write", "*")


def test_paths() -> None:
    assert md.acl_resource_path("LITERAL", "Topic", "t1") == "/kafka-acl/Topic/t1"
    assert md.acl_resource_path("PREFIXED", "TransactionalId", "tx-") == \
        "/kafka-acl-extended/prefixed/TransactionalId/tx-"
    assert md.acl_change_path("LITERAL") == "/kafka-acl-changes"
    assert md.acl_change_path("PREFIXED") == "/kafka-acl-extended-changes"
    with pytest.raises(ValueError):
        md.acl_store_path("MATCH")
    paths = md.acl_paths()
    assert paths[:2] == ["/kafka-acl", "/kafka-acl/Topic"] and len(paths) == 2 * 7 + 2
    assert "/kafka-acl-extended/prefixed/User" in paths and paths[-2:] == [md.ACL_CHANGES_PATH,
                                                                          md.EXTENDED_ACL_CHANGES_PATH]


def test_resource_znode_is_kafkas() -> None:
    data = md.encode_acls([ALICE_WRITE])
    assert data == b'{"acls":[{"principal":"User:alice","permissionType":"Allow","host":"*","operation":"Write"}],' \
                   b'"version":1}'
    assert md.decode_acls(data) == [ALICE_WRITE]
    # Kafka's documentation's key order, spaces and all, reads the same
    assert md.decode_acls(b'{"version": 1, "acls": [ { "host":"*", "permissionType": "Allow","operation": "Write",'
                          b'"principal": "User:alice"}]}') == [ALICE_WRITE]
    assert md.decode_acls(b"") == [] and md.decode_acls(None) == []
    with pytest.raises(ValueError, match="version"):
        md.decode_acls(b'{"version":2,"acls":[]}')
    with pytest.raises(ValueError, match="malformed"):
        md.decode_acls(b'{"version":1,"acls":[{"principal":"User:alice"}]}')


def test_change_notices_are_kafkas() -> None:
    assert md.encode_acl_change(resource_type="TRANSACTIONAL_ID", name="tx", pattern_type="LITERAL") == \
        b"TRANSACTIONAL_ID:tx"
    assert md.encode_acl_change(resource_type="TOPIC", name="pre-", pattern_type="PREFIXED") == \
        b'{"version":1,"resourceType":"TOPIC","name":"pre-","patternType":"PREFIXED"}'
    assert md.decode_acl_change("LITERAL", b"TOPIC:a:b") == ("TOPIC", "a:b", "LITERAL")
    assert md.decode_acl_change("PREFIXED", b'{"version":1,"resourceType":"GROUP","name":"g","patternType":'
                                            b'"PREFIXED"}') == ("GROUP", "g", "PREFIXED")
    for pattern_type, bad in (("LITERAL", b"TOPIC"), ("PREFIXED", b'{"version":2}'), ("PREFIXED", b'{"version":1}')):
        with pytest.raises(ValueError):
            md.decode_acl_change(pattern_type, bad)
