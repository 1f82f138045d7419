"""reconcile/user.py against the fakes: a KafkaUser's spec → SCRAM credentials or a client certificate, ACLs and
quotas in the brokers, its Secret, status and Events; and what deletion removes."""

from __future__ import annotations

import base64
import datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID
from reconcile_fakes import World, cluster_body, user_body

from kafka_operator.model import certificates
from kafka_operator.model.spec import ClusterSpec
from kafka_operator.model.user import ROTATE_PASSWORD_ANNOTATION, AclBinding, jaas_config
from kafka_operator.reconcile.certificates import ensure_certificates
from kafka_operator.reconcile.user import UserNotReady, delete_user, reconcile_user

LISTENERS = [{"name": "plain", "type": "internal", "securityProtocol": "PLAINTEXT",
              "bootstrapServers": "demo-bootstrap.kafka.svc.cluster.local:9092"}]
READY_STATUS = {"phase": "Running", "readyBrokers": 3, "listeners": LISTENERS}
READ_ORDERS = {"resource": {"type": "topic", "name": "orders"}, "operations": ["Read", "Describe"]}


def binding(operation: str, principal: str = "User:alice", name: str = "orders") -> AclBinding:
    return AclBinding("TOPIC", name, "LITERAL", principal, "*", operation, "ALLOW")


@pytest.fixture
def world() -> World:
    world = World()
    world.kube.add(cluster_body(bootstrapOverride="127.0.0.1:9092", status=READY_STATUS))
    return world


def secure(world: World) -> None:
    """Make the cluster secured (a mutual-TLS listener) and issue its CAs and the operator's certificate."""
    listeners = [{"name": "tls", "port": 9093, "tls": True, "authentication": "tls"}]
    body = world.kube.add(cluster_body(bootstrapOverride="127.0.0.1:9091", listeners=listeners, status={
        **READY_STATUS, "listeners": [{"name": "tls", "type": "internal", "securityProtocol": "SSL",
                                       "bootstrapServers": "demo-bootstrap.kafka.svc.cluster.local:9093"}]}))
    ensure_certificates(world.ctx, ClusterSpec.from_resource(body), broker_sans={0: ["demo-broker-0"]})
    world.kube.applied.clear()


def user(world: World, name: str = "alice", **spec: Any) -> dict[str, Any]:
    return world.kube.add(user_body(name, **spec))


def stored(world: World, name: str = "alice") -> dict[str, Any]:
    found = world.kube.find("KafkaUser", name)
    assert found is not None
    return found


def secret(world: World, name: str = "alice") -> dict[str, bytes]:
    found = world.kube.find("Secret", name)
    assert found is not None
    return {key: base64.b64decode(value) for key, value in found["data"].items()}


def ready(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "Ready")


def again(world: World, name: str = "alice") -> dict[str, Any]:
    """The next reconcile sees the object as stored (status included), as kopf would hand it over."""
    return reconcile_user(world.ctx, stored(world, name))


def settle(world: World) -> None:
    world.kube.applied.clear()
    world.kube.events.clear()
    world.users.calls.clear()


# --- SCRAM -------------------------------------------------------------------------------------


def test_a_scram_user_gets_a_generated_password_in_the_brokers_and_its_secret(world):
    status = reconcile_user(world.ctx, user(world))
    data = secret(world)
    password = data["password"].decode()
    assert len(password) == 32
    assert world.users.scram == {"alice": {"SCRAM-SHA-512": password}}
    assert data == {
        "username": b"alice",
        "password": password.encode(),
        "sasl.jaas.config": jaas_config("alice", password).encode(),
        "bootstrap.plain": b"demo-bootstrap.kafka.svc.cluster.local:9092",
        "security.protocol.plain": b"PLAINTEXT",
    }  # a plain cluster has no CA
    assert world.kube.find("Secret", "alice")["metadata"]["ownerReferences"][0]["kind"] == "KafkaUser"
    assert status["phase"] == "Ready" and status["username"] == "alice" and status["secret"] == "alice"
    assert ready(status)["status"] == "True" and ready(status)["reason"] == "Synced"
    assert status["observedGeneration"] == 1 and stored(world)["status"] == status
    assert world.kube.reasons() == ["SecretCreated", "PasswordGenerated"]
    assert world.users.connections[-1].bootstrap == "127.0.0.1:9092" and not world.users.connections[-1].tls
    assert world.users.closed == len(world.users.connections)


def test_a_second_reconcile_changes_nothing(world):
    reconcile_user(world.ctx, user(world))
    password = secret(world)["password"]
    settle(world)
    status = again(world)
    assert status["phase"] == "Ready"
    assert world.users.calls == [] and world.kube.applied == [] and world.kube.events == []
    assert secret(world)["password"] == password


def test_a_credential_missing_in_the_brokers_is_restored_with_the_same_password(world):
    reconcile_user(world.ctx, user(world))
    password = secret(world)["password"].decode()
    world.users.scram.clear()
    settle(world)
    again(world)
    assert world.users.calls == [("upsert_scram", ("alice", password))]
    assert world.kube.reasons() == ["ScramCredentialRestored"] and world.kube.applied == []


def test_the_rotate_annotation_sets_a_new_password_then_goes_away(world):
    reconcile_user(world.ctx, user(world))
    old = secret(world)["password"]
    body = stored(world)
    body["metadata"]["annotations"] = {ROTATE_PASSWORD_ANNOTATION: "true"}
    world.kube.add(body)
    settle(world)
    again(world)
    new = secret(world)["password"]
    assert new != old and world.users.scram["alice"]["SCRAM-SHA-512"] == new.decode()
    assert world.users.calls == [("upsert_scram", ("alice", new.decode()))]
    assert world.kube.custom_patches == [
        ("kafkausers", "alice", {"metadata": {"annotations": {ROTATE_PASSWORD_ANNOTATION: None}}})]
    assert ROTATE_PASSWORD_ANNOTATION not in stored(world)["metadata"].get("annotations", {})
    assert world.kube.reasons() == ["SecretUpdated", "PasswordRotated"]


def test_a_failing_broker_leaves_no_secret_and_is_retried(world):
    world.users.error = "KafkaTimeoutError: no broker answered"
    with pytest.raises(UserNotReady, match="no broker answered"):
        reconcile_user(world.ctx, user(world))
    assert world.kube.find("Secret", "alice") is None
    status = stored(world)["status"]
    assert status["phase"] == "NotReady" and ready(status)["reason"] == "KafkaError"
    assert "username" not in status


# --- ACLs and quotas -----------------------------------------------------------------------------


def test_acls_are_created_and_extra_ones_of_this_principal_deleted(world):
    bob = binding("WRITE", principal="User:bob")
    stale = binding("ALTER")
    world.users.acls |= {bob, stale}
    reconcile_user(world.ctx, user(world, authorization={"type": "simple", "acls": [READ_ORDERS]}))
    assert world.users.acls == {bob, binding("READ"), binding("DESCRIBE")}
    (event,) = [e for e in world.kube.events if e.reason == "AclsUpdated"]
    assert "2 ACL(s) created, 1 deleted" in event.message and "- ALLOW User:alice ALTER on TOPIC" in event.message

    body = stored(world)
    body["spec"]["authorization"]["acls"] = [{"resource": {"type": "group", "name": "app-", "patternType": "prefix"},
                                              "operations": ["Read"]}]
    body["metadata"]["generation"] = 2
    world.kube.add(body)
    settle(world)
    again(world)
    assert world.users.acls == {bob, AclBinding("GROUP", "app-", "PREFIXED", "User:alice", "*", "READ", "ALLOW")}

    del body["spec"]["authorization"]
    world.kube.add(body)
    again(world)
    assert world.users.acls == {bob}


def test_quotas_are_set_changed_and_removed_leaving_other_keys(world):
    world.users.quotas["alice"] = {"controller_mutation_rate": 5.0}
    reconcile_user(world.ctx, user(world, quotas={"producerByteRate": 1024, "requestPercentage": 50}))
    assert world.users.quotas["alice"] == {"producer_byte_rate": 1024.0, "request_percentage": 50.0,
                                           "controller_mutation_rate": 5.0}
    body = stored(world)
    body["spec"]["quotas"] = {"producerByteRate": 2048, "consumerByteRate": 10}
    world.kube.add(body)
    settle(world)
    again(world)
    assert world.users.calls == [("alter_quotas", ("alice", {"producer_byte_rate": 2048.0,
                                                            "consumer_byte_rate": 10.0}, ["request_percentage"]))]
    (event,) = world.kube.events
    assert event.reason == "QuotasUpdated" and "request_percentage removed" in event.message
    assert world.users.quotas["alice"] == {"producer_byte_rate": 2048.0, "consumer_byte_rate": 10.0,
                                           "controller_mutation_rate": 5.0}


# --- refusals and waiting --------------------------------------------------------------------------


def test_an_invalid_spec_touches_nothing_and_warns_once(world):
    acls = [{"resource": {"type": "group", "name": "g"}, "operations": ["Write"]}]
    status = reconcile_user(world.ctx, user(world, authorization={"type": "simple", "acls": acls}))
    assert status["phase"] == "NotReady" and ready(status)["reason"] == "UnsupportedOperation"
    assert world.users.connections == [] and world.kube.find("Secret", "alice") is None
    (event,) = world.kube.events
    assert event.type == "Warning" and "no Write operation on a group" in event.message
    again(world)
    assert len(world.kube.events) == 1


@pytest.mark.parametrize(("arrange", "reason"), [
    (lambda w: None, "ClusterNotFound"),
    (lambda w: w.kube.add(cluster_body("other", status={"readyBrokers": 0})), "ClusterNotReady"),
])
def test_a_missing_or_unready_cluster_is_retried_and_warned_about_once(world, arrange, reason):
    arrange(world)
    body = user(world, cluster="other")
    with pytest.raises(UserNotReady):
        reconcile_user(world.ctx, body)
    assert ready(stored(world)["status"])["reason"] == reason
    with pytest.raises(UserNotReady):
        again(world)
    assert world.kube.reasons() == [reason] and world.users.connections == []


def test_a_tls_user_needs_a_secured_cluster(world):
    with pytest.raises(UserNotReady, match="not secured"):
        reconcile_user(world.ctx, user(world, authentication="tls"))
    assert ready(stored(world)["status"])["reason"] == "ClusterNotSecured"


# --- TLS ---------------------------------------------------------------------------------------


def test_a_tls_user_gets_a_client_certificate_from_the_clients_ca(world):
    secure(world)
    status = reconcile_user(world.ctx, user(world, authentication="tls"))
    data = secret(world)
    clients_ca = world.kube.find("Secret", "demo-clients-ca")
    ca_pem = base64.b64decode(clients_ca["data"]["ca.crt"]).decode()
    cluster_ca = base64.b64decode(world.kube.find("Secret", "demo-cluster-ca-cert")["data"]["ca.crt"])
    cert = data["user.crt"].decode()
    assert certificates.subject(cert) == "CN=alice" and certificates.issued_by(cert, ca_pem)
    usage = x509.load_pem_x509_certificate(data["user.crt"]).extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(usage.value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert data["ca.crt"] == cluster_ca
    assert data["bootstrap.tls"] == b"demo-bootstrap.kafka.svc.cluster.local:9093"
    assert data["security.protocol.tls"] == b"SSL"
    assert "password" not in data
    key_store = pkcs12.load_pkcs12(data["user.p12"], data["user.password"])
    assert key_store.cert is not None and key_store.cert.certificate == x509.load_pem_x509_certificate(data["user.crt"])
    assert status["username"] == "CN=alice" and world.users.scram == {}
    assert world.users.connections[-1].tls and world.users.connections[-1].bootstrap == "127.0.0.1:9091"
    assert world.kube.reasons() == ["SecretCreated", "CertificateIssued"]

    settle(world)
    again(world)
    assert world.kube.applied == [] and world.kube.events == [] and secret(world) == data


def test_a_due_certificate_is_renewed(world):
    secure(world)
    reconcile_user(world.ctx, user(world, authentication="tls"))
    first = secret(world)
    settle(world)
    world.clock.advance(datetime.timedelta(days=365 - 30).total_seconds())
    again(world)
    renewed = secret(world)
    assert renewed["user.crt"] != first["user.crt"] and renewed["user.p12"] != first["user.p12"]
    assert world.kube.reasons() == ["SecretUpdated", "CertificateIssued"]
    assert "renewed" in world.kube.events[-1].message


def test_a_certificate_of_another_ca_is_replaced(world):
    secure(world)
    reconcile_user(world.ctx, user(world, authentication="tls"))
    first = secret(world)["user.crt"]
    world.kube.objects = {k: v for k, v in world.kube.objects.items() if v["metadata"]["name"] != "demo-clients-ca"}
    cluster = ClusterSpec.from_resource(world.cluster())
    ensure_certificates(world.ctx, cluster, broker_sans={0: ["demo-broker-0"]})  # a new clients CA
    settle(world)
    again(world)
    assert secret(world)["user.crt"] != first and "the clients CA changed" in world.kube.events[-1].message


def test_a_secured_cluster_without_the_operators_certificate_is_not_reachable_yet(world):
    secure(world)
    world.kube.objects = {k: v for k, v in world.kube.objects.items()
                          if v["metadata"]["name"] != "demo-operator-certs"}
    with pytest.raises(UserNotReady, match="operator's certificate"):
        reconcile_user(world.ctx, user(world))
    assert ready(stored(world)["status"])["reason"] == "AccessNotReady"


def test_switching_authentication_removes_the_previous_identity(world):
    reconcile_user(world.ctx, user(world, authorization={"type": "simple", "acls": [READ_ORDERS]},
                                   quotas={"producerByteRate": 1}))
    assert "alice" in world.users.scram and "alice" in world.users.quotas
    secure(world)
    body = stored(world)
    body["spec"]["authentication"] = {"type": "tls"}
    world.kube.add(body)
    status = again(world)
    assert status["username"] == "CN=alice"
    assert world.users.scram == {}
    assert {b.principal for b in world.users.acls} == {"User:CN=alice"}
    assert world.users.quotas == {"CN=alice": {"producer_byte_rate": 1.0}}
    assert "PreviousIdentityRemoved" in world.kube.reasons()
    assert set(secret(world)) >= {"user.crt", "user.key", "user.p12", "user.password", "ca.crt"}


# --- deletion ----------------------------------------------------------------------------------


def test_deletion_removes_credentials_acls_and_quotas(world):
    bob = binding("WRITE", principal="User:bob")
    world.users.acls.add(bob)
    reconcile_user(world.ctx, user(world, authorization={"type": "simple", "acls": [READ_ORDERS]},
                                   quotas={"consumerByteRate": 7}))
    delete_user(world.ctx, stored(world))
    assert world.users.scram == {} and world.users.acls == {bob} and world.users.quotas == {}
    assert world.kube.reasons()[-1] == "UserDeleted"


def test_deletion_without_the_cluster_has_nothing_to_clean(world):
    delete_user(world.ctx, user(world, cluster="gone"))
    assert world.users.connections == []


def test_deletion_is_retried_while_the_brokers_fail(world):
    reconcile_user(world.ctx, user(world))
    world.users.error = "KafkaConnectionError"
    with pytest.raises(UserNotReady):
        delete_user(world.ctx, stored(world))


def test_the_secret_follows_the_clusters_listeners(world):
    reconcile_user(world.ctx, user(world))
    cluster = world.cluster()
    cluster["status"]["listeners"] = [*LISTENERS, {"name": "ext", "type": "nodeport", "securityProtocol": "PLAINTEXT",
                                                   "bootstrapServers": "10.0.0.5:31234"}]
    world.kube.add(cluster)
    settle(world)
    again(world)
    assert secret(world)["bootstrap.ext"] == b"10.0.0.5:31234"
    assert world.kube.reasons() == ["SecretUpdated"] and world.users.calls == []
