"""model/user.py: a KafkaUser's identity, its ACL bindings and quotas in Kafka's names, validation, the JAAS line,
the PKCS #12 key store and the user Secret."""

from __future__ import annotations

import base64
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from reconcile_fakes import user_body

from kafka_operator.model import certificates
from kafka_operator.model.user import (
    CLUSTER_RESOURCE_NAME,
    OPERATIONS,
    RESOURCE_TYPES,
    SUPPORTED_OPERATIONS,
    AclBinding,
    ScramCredentials,
    TlsCredentials,
    UserSpec,
    jaas_config,
    pkcs12_keystore,
    secret_data,
    user_secret,
    validate,
)

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def user(name: str = "alice", **spec) -> UserSpec:
    return UserSpec.from_resource(user_body(name, **spec))


def acl(resource: dict, *operations: str, **rule) -> dict:
    return {"resource": resource, "operations": list(operations), **rule}


def test_scram_and_tls_identities() -> None:
    scram, tls = user(), user(authentication="tls")
    assert (scram.username, scram.principal_name, scram.principal) == ("alice", "alice", "User:alice")
    assert (tls.username, tls.principal_name, tls.principal) == ("alice", "CN=alice", "User:CN=alice")
    assert scram.secret_name == "alice" and scram.cluster == "demo" and scram.namespace == "kafka"


def test_each_operation_of_each_rule_is_one_binding_in_kafkas_names() -> None:
    spec = user(authorization={"type": "simple", "acls": [
        acl({"type": "topic", "name": "orders", "patternType": "literal"}, "Read", "Describe"),
        acl({"type": "group", "name": "app-", "patternType": "prefix"}, "Read", type="deny", host="10.0.0.1"),
        acl({"type": "cluster"}, "IdempotentWrite"),
        acl({"type": "transactionalId", "name": "tx"}, "Write"),
    ]})
    assert spec.acl_bindings() == {
        AclBinding("TOPIC", "orders", "LITERAL", "User:alice", "*", "READ", "ALLOW"),
        AclBinding("TOPIC", "orders", "LITERAL", "User:alice", "*", "DESCRIBE", "ALLOW"),
        AclBinding("GROUP", "app-", "PREFIXED", "User:alice", "10.0.0.1", "READ", "DENY"),
        AclBinding("CLUSTER", CLUSTER_RESOURCE_NAME, "LITERAL", "User:alice", "*", "IDEMPOTENT_WRITE", "ALLOW"),
        AclBinding("TRANSACTIONAL_ID", "tx", "LITERAL", "User:alice", "*", "WRITE", "ALLOW"),
    }
    assert validate(spec) is None


def test_tls_bindings_name_the_certificate_principal_and_no_authorization_means_no_acls() -> None:
    rules = {"acls": [acl({"type": "topic", "name": "t"}, "All")]}
    (binding,) = user(authentication="tls", authorization=rules).acl_bindings()
    assert binding.principal == "User:CN=alice" and binding.operation == "ALL"
    assert user().acl_bindings() == frozenset()


def test_bindings_are_hashable_values() -> None:
    a = AclBinding("TOPIC", "t", "LITERAL", "User:a", "*", "READ", "ALLOW")
    assert a == AclBinding("TOPIC", "t", "LITERAL", "User:a", "*", "READ", "ALLOW") and len({a, a}) == 1
    assert str(a) == "ALLOW User:a READ on TOPIC literal 't' from *"


def test_quotas_in_kafkas_keys() -> None:
    spec = user(quotas={"producerByteRate": 1024, "consumerByteRate": 2048, "requestPercentage": 55})
    assert spec.kafka_quotas() == {"producer_byte_rate": 1024.0, "consumer_byte_rate": 2048.0,
                                   "request_percentage": 55.0}
    assert user().kafka_quotas() == {}


def test_kafkas_supported_operations_table() -> None:
    """AclEntry.supportedOperations, for the four resource types a KafkaUser names."""
    assert SUPPORTED_OPERATIONS["GROUP"] == {"READ", "DESCRIBE", "DELETE"}
    assert SUPPORTED_OPERATIONS["TRANSACTIONAL_ID"] == {"DESCRIBE", "WRITE"}
    assert "IDEMPOTENT_WRITE" in SUPPORTED_OPERATIONS["CLUSTER"] and "READ" not in SUPPORTED_OPERATIONS["CLUSTER"]
    assert set(RESOURCE_TYPES.values()) == set(SUPPORTED_OPERATIONS)
    assert set().union(*SUPPORTED_OPERATIONS.values()) | {"ALL"} == set(OPERATIONS.values())


@pytest.mark.parametrize(("resource", "operation", "fragment"), [
    ({"type": "group", "name": "g"}, "Write", "no Write operation on a group resource (it has All, Delete, "
                                              "Describe, Read)"),
    ({"type": "transactionalId", "name": "tx"}, "Read", "no Read operation on a transactionalId"),
    ({"type": "cluster"}, "Read", "no Read operation on a cluster"),
    ({"type": "topic", "name": "t"}, "ClusterAction", "no ClusterAction operation on a topic"),
])
def test_operations_kafka_does_not_have_on_a_resource_type_are_refused(resource, operation, fragment) -> None:
    refusal = validate(user(authorization={"type": "simple", "acls": [acl(resource, "Read", operation)]}))
    assert refusal is not None and refusal[0] == "UnsupportedOperation" and fragment in refusal[1]


@pytest.mark.parametrize(("spec", "reason", "fragment"), [
    ({"authentication": "kerberos"}, "InvalidAuthentication", "'kerberos' is not one of scram-sha-512, tls"),
    ({"authorization": {"type": "opa"}}, "InvalidAcl", "authorization.type 'opa'"),
    ({"authorization": {"acls": [acl({"type": "topic"}, "Read")]}}, "InvalidAcl", "acls[0]: a topic resource needs"),
    ({"authorization": {"acls": [acl({"type": "topic", "name": "a/b"}, "Read")]}}, "InvalidAcl", "'/'"),
    ({"authorization": {"acls": [acl({"type": "user", "name": "x"}, "Read")]}}, "InvalidAcl", "resource type 'user'"),
    ({"authorization": {"acls": [acl({"type": "topic", "name": "t", "patternType": "match"}, "Read")]}},
     "InvalidAcl", "patternType 'match'"),
    ({"authorization": {"acls": [acl({"type": "cluster", "name": "other"}, "Alter")]}}, "InvalidAcl",
     "the literal 'kafka-cluster'"),
    ({"authorization": {"acls": [acl({"type": "cluster", "patternType": "prefix"}, "Alter")]}}, "InvalidAcl",
     "the literal 'kafka-cluster'"),
    ({"authorization": {"acls": [acl({"type": "topic", "name": "t"})]}}, "InvalidAcl", "no operations"),
    ({"authorization": {"acls": [acl({"type": "topic", "name": "t"}, "Read", type="maybe")]}}, "InvalidAcl",
     "type 'maybe'"),
    ({"authorization": {"acls": [acl({"type": "topic", "name": "t"}, "Fly")]}}, "InvalidAcl", "unknown operation"),
    ({"quotas": {"producerByteRate": -1}}, "InvalidQuota", "≥ 0"),
    ({"quotas": {"producerByteRate": True}}, "InvalidQuota", "≥ 0"),
    ({"quotas": {"controllerMutationRate": 1}}, "InvalidQuota", "unknown quota"),
])
def test_invalid_specs_are_refused_with_a_reason(spec, reason, fragment) -> None:
    refusal = validate(user(**spec))
    assert refusal is not None and refusal[0] == reason and fragment in refusal[1], refusal


def test_user_names() -> None:
    assert validate(user("app.orders-1")) is None
    assert validate(user("Alice"))[0] == "InvalidUserName"
    assert validate(user("a" * 64, authentication="tls")) is None
    refusal = validate(user("a" * 65, authentication="tls"))
    assert refusal is not None and refusal[0] == "InvalidUserName" and "at most 64" in refusal[1]
    assert validate(user("a" * 65)) is None  # a SCRAM name is no certificate CN


def test_strimzis_single_operation_spelling_is_accepted() -> None:
    spec = user(authorization={"type": "simple", "acls": [{"resource": {"type": "topic", "name": "t"},
                                                             "operation": "Write"}]})
    assert [b.operation for b in spec.acl_bindings()] == ["WRITE"]


def test_the_jaas_line_escapes_quotes_and_backslashes() -> None:
    assert jaas_config("alice", "s3cret") == (
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="s3cret";')
    assert jaas_config("alice", 'a"b\\c').endswith(' password="a\\"b\\\\c";')


LISTENERS = [
    {"name": "plain", "type": "internal", "securityProtocol": "PLAINTEXT", "bootstrapServers": "demo-bootstrap:9092"},
    {"name": "secure", "type": "internal", "securityProtocol": "SASL_SSL", "bootstrapServers": "demo-bootstrap:9093"},
    {"name": "outside", "type": "loadbalancer", "securityProtocol": "SSL", "bootstrapServers": ""},
]


def test_a_scram_users_secret() -> None:
    spec = user()
    data = secret_data(spec, ScramCredentials("pw"), listeners=LISTENERS, ca_cert_pem="CA")
    assert data == {
        "username": b"alice",
        "password": b"pw",
        "sasl.jaas.config": jaas_config("alice", "pw").encode(),
        "ca.crt": b"CA",
        "bootstrap.plain": b"demo-bootstrap:9092",
        "security.protocol.plain": b"PLAINTEXT",
        "bootstrap.secure": b"demo-bootstrap:9093",
        "security.protocol.secure": b"SASL_SSL",
    }  # the load balancer without an address yet is left out
    manifest = user_secret(spec, data)
    assert manifest["metadata"] == {
        "name": "alice",
        "namespace": "kafka",
        "labels": {"kopfka.io/cluster": "demo", "app.kubernetes.io/managed-by": "kopfka-operator"},
        "ownerReferences": [{"apiVersion": "kopfka.io/v1alpha1", "kind": "KafkaUser", "name": "alice",
                             "uid": "uid-alice", "controller": True, "blockOwnerDeletion": True}],
    }
    assert manifest["type"] == "Opaque"
    assert {k: base64.b64decode(v) for k, v in manifest["data"].items()} == data
    assert "ca.crt" not in secret_data(spec, ScramCredentials("pw"))


def test_a_tls_users_secret_and_its_pkcs12_key_store() -> None:
    ca = certificates.new_ca(common_name="demo-clients-ca", now=NOW, validity_days=30)
    pair = certificates.issue(ca, subject="CN=alice", client=True, now=NOW, validity_days=10)
    p12 = pkcs12_keystore(alias="alice", cert_pem=pair.cert_pem, key_pem=pair.key_pem, ca_cert_pem=ca.cert_pem,
                          password="store-pw")
    data = secret_data(user(authentication="tls"), TlsCredentials(pair.cert_pem, pair.key_pem, p12, "store-pw"),
                       ca_cert_pem="CLUSTER-CA")
    assert set(data) == {"user.crt", "user.key", "user.p12", "user.password", "ca.crt"}
    assert data["user.password"] == b"store-pw" and data["ca.crt"] == b"CLUSTER-CA"
    loaded = pkcs12.load_pkcs12(data["user.p12"], b"store-pw")
    assert loaded.cert is not None and loaded.cert.friendly_name == b"alice"
    assert loaded.cert.certificate == x509.load_pem_x509_certificate(pair.cert_pem.encode())
    assert [c.certificate for c in loaded.additional_certs] == [x509.load_pem_x509_certificate(ca.cert_pem.encode())]
    with pytest.raises(ValueError):
        pkcs12.load_pkcs12(data["user.p12"], b"wrong")
