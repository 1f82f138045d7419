"""reconcile/certificates.py against the fake Kubernetes API: the CAs' and certificates' Secrets, written only
when they change, renewed when due, user-supplied CAs read and never written."""

from __future__ import annotations

import base64
import datetime
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from reconcile_fakes import T0, World, cluster_body

from kafka_operator.model import certificates, names
from kafka_operator.model.certificates import KeyPair
from kafka_operator.model.spec import ClusterSpec
from kafka_operator.reconcile.certificates import (
    CertificatesNotReady,
    ClusterCertificates,
    ensure_certificates,
    load_clients_ca,
    load_cluster_ca_cert,
)

DAY = datetime.timedelta(days=1)
SECRETS = ("demo-cluster-ca", "demo-cluster-ca-cert", "demo-clients-ca", "demo-broker-certs", "demo-operator-certs")
TLS_LISTENER = {"name": "tls", "port": 9093, "tls": True, "authentication": "tls"}


def broker_sans(*ids: int) -> dict[int, list[str]]:
    return {i: [f"demo-broker-{i}.demo-brokers.kafka.svc.cluster.local", f"10.0.0.{i + 1}"] for i in ids}


SANS = broker_sans(0, 1, 2)


def cluster_spec(**certificates_spec: Any) -> ClusterSpec:
    return ClusterSpec.from_resource(cluster_body(listeners=[TLS_LISTENER], certificates=certificates_spec))


def data(world: World, name: str) -> dict[str, str]:
    secret = world.kube.find("Secret", name)
    assert secret is not None, f"Secret {name} is missing"
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def written(world: World) -> list[str]:
    return [m["metadata"]["name"] for m in world.kube.applied if m["kind"] == "Secret"]


def ensure(world: World, spec: ClusterSpec, sans: Mapping[int, Sequence[str]] = SANS) -> ClusterCertificates:
    return ensure_certificates(world.ctx, spec, broker_sans=sans)


def add_secret(world: World, name: str, values: Mapping[str, str]) -> None:
    encoded = {key: base64.b64encode(value.encode()).decode() for key, value in values.items()}
    world.kube.add(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "kafka"}, "data": encoded}
    )


@pytest.fixture
def world() -> World:
    return World()


def test_the_first_call_creates_the_five_secrets(world: World) -> None:
    spec = cluster_spec()
    result = ensure(world, spec)

    assert sorted(written(world)) == sorted(SECRETS)
    for name in SECRETS:
        secret = world.kube.find("Secret", name)
        assert secret is not None and secret["type"] == "Opaque"
        assert secret["metadata"]["ownerReferences"][0]["uid"] == "uid-demo"
        assert secret["metadata"]["labels"][names.CLUSTER_LABEL] == "demo"

    cluster_ca = data(world, "demo-cluster-ca")
    clients_ca = data(world, "demo-clients-ca")
    assert set(cluster_ca) == set(clients_ca) == {"ca.crt", "ca.key"}
    assert certificates.subject(cluster_ca["ca.crt"]) == "CN=demo-cluster-ca,O=kopfka.io"
    assert certificates.subject(clients_ca["ca.crt"]) == "CN=demo-clients-ca,O=kopfka.io"
    assert data(world, "demo-cluster-ca-cert") == {"ca.crt": cluster_ca["ca.crt"]}

    brokers = data(world, "demo-broker-certs")
    assert set(brokers) == {"broker-0.pem", "broker-1.pem", "broker-2.pem", "ca.crt", "clients-ca.crt"}
    assert brokers["ca.crt"] == cluster_ca["ca.crt"] and brokers["clients-ca.crt"] == clients_ca["ca.crt"]
    for broker, sans in SANS.items():
        pair = KeyPair.from_pem(brokers[f"broker-{broker}.pem"])
        assert certificates.subject(pair.cert_pem) == "CN=demo-broker,O=kopfka.io" == names.broker_principal(spec)
        assert certificates.sans(pair.cert_pem) == tuple(sorted(sans))
        assert certificates.issued_by(pair.cert_pem, cluster_ca["ca.crt"]) and certificates.matches(pair)
        assert certificates.not_after(pair.cert_pem) == T0 + 365 * DAY

    operator = data(world, "demo-operator-certs")
    assert operator == {
        "tls.crt": result.operator.cert_pem,
        "tls.key": result.operator.key_pem,
        "ca.crt": cluster_ca["ca.crt"],
    }
    assert certificates.subject(operator["tls.crt"]) == "CN=demo-operator,O=kopfka.io"
    assert certificates.issued_by(operator["tls.crt"], cluster_ca["ca.crt"])

    assert result.cluster_ca_cert == cluster_ca["ca.crt"]
    assert result.clients_ca == KeyPair(clients_ca["ca.crt"], clients_ca["ca.key"])
    assert len(result.broker_digest) == 16 and int(result.broker_digest, 16) >= 0
    assert result.renewed == ("cluster CA", "clients CA", "broker-0", "broker-1", "broker-2", "operator")
    assert load_clients_ca(world.ctx, spec) == result.clients_ca
    assert load_cluster_ca_cert(world.ctx, spec) == result.cluster_ca_cert


def test_a_second_call_writes_nothing_and_keeps_the_digest(world: World) -> None:
    spec = cluster_spec()
    first = ensure(world, spec)
    versions = {name: world.kube.find("Secret", name)["metadata"]["resourceVersion"] for name in SECRETS}
    world.kube.applied.clear()

    second = ensure(world, spec)
    assert written(world) == []
    assert second == ClusterCertificates(
        first.cluster_ca_cert, first.clients_ca, first.operator, first.broker_digest, renewed=()
    )
    assert {name: world.kube.find("Secret", name)["metadata"]["resourceVersion"] for name in SECRETS} == versions


def test_a_san_change_reissues_only_that_broker(world: World) -> None:
    spec = cluster_spec()
    first = ensure(world, spec)
    before = data(world, "demo-broker-certs")
    world.kube.applied.clear()

    changed = {**SANS, 1: [*SANS[1], "kafka-1.example.com"]}
    result = ensure(world, spec, changed)
    after = data(world, "demo-broker-certs")
    assert result.renewed == ("broker-1",)
    assert written(world) == ["demo-broker-certs"]
    assert after["broker-0.pem"] == before["broker-0.pem"] and after["broker-2.pem"] == before["broker-2.pem"]
    assert certificates.sans(KeyPair.from_pem(after["broker-1.pem"]).cert_pem) == tuple(sorted(changed[1]))
    assert result.broker_digest != first.broker_digest
    # The same addresses in another order are the same certificate.
    assert ensure(world, spec, {**changed, 1: list(reversed(changed[1]))}).renewed == ()


def test_scale_down_drops_the_removed_brokers(world: World) -> None:
    spec = cluster_spec()
    first = ensure(world, spec)
    before = data(world, "demo-broker-certs")

    result = ensure(world, spec, broker_sans(0, 1))
    after = data(world, "demo-broker-certs")
    assert set(after) == {"broker-0.pem", "broker-1.pem", "ca.crt", "clients-ca.crt"}
    assert after["broker-0.pem"] == before["broker-0.pem"] and after["broker-1.pem"] == before["broker-1.pem"]
    assert result.renewed == () and result.broker_digest != first.broker_digest


def test_the_renewal_window_reissues_the_leaf_certificates(world: World) -> None:
    spec = cluster_spec(validityDays=365, renewalDays=30)
    first = ensure(world, spec)
    ca_before = data(world, "demo-cluster-ca")

    world.clock.now = T0 + 335 * DAY - datetime.timedelta(seconds=1)  # a second before the window opens
    assert ensure(world, spec).renewed == ()
    world.kube.applied.clear()

    world.clock.now = T0 + 335 * DAY
    result = ensure(world, spec)
    assert result.renewed == ("broker-0", "broker-1", "broker-2", "operator")
    assert sorted(written(world)) == ["demo-broker-certs", "demo-operator-certs"]
    assert result.broker_digest != first.broker_digest and result.operator != first.operator
    assert data(world, "demo-cluster-ca") == ca_before
    for broker in SANS:
        cert = KeyPair.from_pem(data(world, "demo-broker-certs")[f"broker-{broker}.pem"]).cert_pem
        assert certificates.not_after(cert) == world.clock.now + 365 * DAY
    assert ensure(world, spec).renewed == ()


def test_a_generated_ca_is_renewed_with_its_key_and_the_leaves_follow(world: World) -> None:
    spec = cluster_spec(caValidityDays=100, validityDays=365, renewalDays=30)
    first = ensure(world, spec)
    cluster_ca = data(world, "demo-cluster-ca")
    leaf = KeyPair.from_pem(data(world, "demo-broker-certs")["broker-0.pem"])
    assert certificates.not_after(leaf.cert_pem) == T0 + 100 * DAY  # capped by the CA

    world.clock.now = T0 + 70 * DAY
    result = ensure(world, spec)
    renewed_ca = data(world, "demo-cluster-ca")
    assert result.renewed == ("cluster CA", "clients CA", "broker-0", "broker-1", "broker-2", "operator")
    assert renewed_ca["ca.key"] == cluster_ca["ca.key"] and renewed_ca["ca.crt"] != cluster_ca["ca.crt"]
    assert certificates.not_after(renewed_ca["ca.crt"]) == world.clock.now + 100 * DAY
    assert data(world, "demo-cluster-ca-cert") == {"ca.crt": renewed_ca["ca.crt"]}
    assert certificates.issued_by(leaf.cert_pem, renewed_ca["ca.crt"])  # old brokers still trusted meanwhile
    assert result.clients_ca.key_pem == first.clients_ca.key_pem
    assert result.broker_digest != first.broker_digest
    assert ensure(world, spec).renewed == ()


def user_ca(world: World, name: str, *, keys: tuple[str, str], validity_days: int = 1825) -> KeyPair:
    ca = certificates.new_ca(common_name=name, now=T0 - DAY, validity_days=validity_days)
    add_secret(world, name, {keys[0]: ca.cert_pem, keys[1]: ca.key_pem})
    return ca


def test_user_supplied_cas_are_used_and_never_written(world: World) -> None:
    cluster_ca = user_ca(world, "my-cluster-ca", keys=("tls.crt", "tls.key"))
    clients_ca = user_ca(world, "my-clients-ca", keys=("ca.crt", "ca.key"))
    spec = cluster_spec(clusterCa={"secretName": "my-cluster-ca"}, clientsCa={"secretName": "my-clients-ca"})
    stored = {name: world.kube.find("Secret", name) for name in ("my-cluster-ca", "my-clients-ca")}

    result = ensure(world, spec)
    assert sorted(written(world)) == ["demo-broker-certs", "demo-cluster-ca-cert", "demo-operator-certs"]
    assert world.kube.find("Secret", "demo-cluster-ca") is None and world.kube.find("Secret", "demo-clients-ca") is None
    assert {name: world.kube.find("Secret", name) for name in stored} == stored
    assert result.renewed == ("broker-0", "broker-1", "broker-2", "operator")
    assert result.cluster_ca_cert == cluster_ca.cert_pem and result.clients_ca == clients_ca
    assert data(world, "demo-cluster-ca-cert") == {"ca.crt": cluster_ca.cert_pem}
    brokers = data(world, "demo-broker-certs")
    assert brokers["ca.crt"] == cluster_ca.cert_pem and brokers["clients-ca.crt"] == clients_ca.cert_pem
    assert certificates.issued_by(KeyPair.from_pem(brokers["broker-0.pem"]).cert_pem, cluster_ca.cert_pem)
    assert certificates.issued_by(result.operator.cert_pem, cluster_ca.cert_pem)
    assert load_clients_ca(world.ctx, spec) == clients_ca


def test_switching_to_a_user_ca_reissues_every_certificate(world: World) -> None:
    first = ensure(world, cluster_spec())
    cluster_ca = user_ca(world, "my-cluster-ca", keys=("ca.crt", "ca.key"))

    result = ensure(world, cluster_spec(clusterCa={"secretName": "my-cluster-ca"}))
    assert result.renewed == ("broker-0", "broker-1", "broker-2", "operator")
    assert result.broker_digest != first.broker_digest
    assert certificates.issued_by(result.operator.cert_pem, cluster_ca.cert_pem)


def test_a_user_ca_near_its_end_caps_the_certificates_without_reissuing_them_every_time(world: World) -> None:
    user_ca(world, "my-cluster-ca", keys=("tls.crt", "tls.key"), validity_days=21)  # ends at T0 + 20 days
    spec = cluster_spec(clusterCa={"secretName": "my-cluster-ca"}, renewalDays=30)
    first = ensure(world, spec)
    assert certificates.not_after(first.operator.cert_pem) == T0 + 20 * DAY
    world.clock.now = T0 + 10 * DAY
    assert ensure(world, spec).renewed == ()

    world.clock.now = T0 + 20 * DAY
    with pytest.raises(CertificatesNotReady) as refused:
        ensure(world, spec)
    assert refused.value.reason == "CaSecretInvalid" and "expired" in refused.value.message


def test_a_missing_user_ca_is_not_ready_and_nothing_is_written(world: World) -> None:
    spec = cluster_spec(clusterCa={"secretName": "my-cluster-ca"})
    with pytest.raises(CertificatesNotReady) as refused:
        ensure(world, spec)
    assert refused.value.reason == "CaSecretMissing"
    assert "kafka/my-cluster-ca" in refused.value.message and str(refused.value) == refused.value.message
    assert written(world) == []


def not_a_ca() -> dict[str, str]:
    ca = certificates.new_ca(common_name="x", now=T0, validity_days=10)
    leaf = certificates.issue(ca, subject="CN=leaf", now=T0, validity_days=5)
    return {"tls.crt": leaf.cert_pem, "tls.key": leaf.key_pem}


def mismatched() -> dict[str, str]:
    one, two = (certificates.new_ca(common_name=n, now=T0, validity_days=10) for n in "ab")
    return {"ca.crt": one.cert_pem, "ca.key": two.key_pem}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (lambda: {"ca.crt": "x"}, "neither tls.crt/tls.key nor ca.crt/ca.key"),
        (lambda: {"ca.crt": "not a certificate", "ca.key": "nor a key"}, "cannot be read"),
        (mismatched, "key does not belong"),
        (not_a_ca, "not a CA"),
    ],
)
def test_an_invalid_user_ca_is_not_ready(world: World, values: Any, message: str) -> None:
    add_secret(world, "my-clients-ca", values())
    spec = cluster_spec(clientsCa={"secretName": "my-clients-ca"})
    with pytest.raises(CertificatesNotReady, match=message) as refused:
        ensure(world, spec)
    assert refused.value.reason == "CaSecretInvalid"
    with pytest.raises(CertificatesNotReady, match=message):
        load_clients_ca(world.ctx, spec)


def test_undecodable_user_ca_secret_is_not_ready(world: World) -> None:
    world.kube.add(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "my-cluster-ca", "namespace": "kafka"},
            "data": {"ca.crt": "!!not base64!!", "ca.key": "//79"},
        }
    )
    with pytest.raises(CertificatesNotReady, match="cannot be decoded") as refused:
        ensure(world, cluster_spec(clusterCa={"secretName": "my-cluster-ca"}))
    assert refused.value.reason == "CaSecretInvalid"


def test_the_loaders_are_read_only_and_not_ready_before_the_cluster_reconcile(world: World) -> None:
    spec = cluster_spec()
    for load in (load_clients_ca, load_cluster_ca_cert):
        with pytest.raises(CertificatesNotReady) as refused:
            load(world.ctx, spec)
        assert refused.value.reason == "CertificatesNotIssued"
    assert written(world) == []


def test_damaged_entries_are_reissued_and_edits_repaired(world: World) -> None:
    spec = cluster_spec()
    first = ensure(world, spec)
    secret = world.kube.find("Secret", "demo-broker-certs")
    secret["data"]["broker-1.pem"] = base64.b64encode(b"garbage").decode()
    secret["data"]["extra"] = base64.b64encode(b"someone's").decode()
    world.kube.add(secret)

    result = ensure(world, spec)
    assert result.renewed == ("broker-1",)
    assert set(data(world, "demo-broker-certs")) == {*(f"broker-{i}.pem" for i in SANS), "ca.crt", "clients-ca.crt"}
    assert result.broker_digest != first.broker_digest
