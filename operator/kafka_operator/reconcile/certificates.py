"""The certificates of a secured KafkaCluster: its two CAs, the brokers' and the operator's certificates.

Steps, each reading the Secret it maintains and writing it only when its data changes (so a resync neither
bumps a resourceVersion nor changes the brokers' digest, and nothing rolls):

1. **CAs.** The cluster CA signs broker and operator certificates; the clients CA signs KafkaUsers'. Each is
   the user's own (``spec.certificates.clusterCa/clientsCa.secretName``: ``tls.crt``/``tls.key`` or
   ``ca.crt``/``ca.key``, read and never written; missing, undecodable, not a CA, key mismatch or expired →
   :class:`CertificatesNotReady`) or generated into ``<c>-cluster-ca`` / ``<c>-clients-ca`` (``ca.crt``,
   ``ca.key``): created when missing, renewed with the same key when due. The public ``<c>-cluster-ca-cert``
   (``ca.crt``) is always kept up to date.
2. **Brokers** (``<c>-broker-certs``): ``broker-<id>.pem`` (key and certificate) per requested broker,
   ``ca.crt`` and ``clients-ca.crt``. A broker's certificate is re-issued when it is missing, unreadable, for
   other SANs than requested, not issued by the current cluster CA, or due; otherwise kept byte for byte.
   Entries of brokers no longer requested are dropped. The data's digest goes into the pod template, so a
   change rolls the brokers one at a time.
3. **Operator** (``<c>-operator-certs``: ``tls.crt``, ``tls.key``, ``ca.crt``): its client certificate for the
   mutual-TLS ``REPLICATION`` listener, under the same rules.

"Due" is :func:`certificates.due` for ``spec.certificates.renewal_days``, with one exception: a certificate is
not renewed while a new one would be due at once (a user CA expiring within the renewal window caps the new
certificate's validity; a validity shorter than the renewal window), which would otherwise re-issue it, and roll
the brokers, at every reconcile. An expired certificate is always replaced.
"""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm

from ..model import certificates, names
from ..model.certificates import KeyPair
from ..model.config import config_hash
from ..model.spec import CaSpec, ClusterSpec
from .access import get_secret, secret_data, secret_holds
from .context import ReconcileContext

__all__ = [
    "CertificatesNotReady",
    "ClusterCertificates",
    "broker_key",
    "ensure_certificates",
    "load_clients_ca",
    "load_cluster_ca_cert",
]

CA_CERT, CA_KEY = "ca.crt", "ca.key"
TLS_CERT, TLS_KEY = "tls.crt", "tls.key"
CLIENTS_CA_CERT = "clients-ca.crt"


class CertificatesNotReady(Exception):
    """The certificates cannot be made yet: a user-supplied CA is missing or invalid, or (for the read-only
    loaders) the cluster reconcile has not created them."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        """A Kubernetes condition reason (CamelCase)."""
        self.message = message


@dataclass(frozen=True)
class ClusterCertificates:
    cluster_ca_cert: str
    """The cluster CA certificate (PEM): what clients trust."""
    clients_ca: KeyPair
    """Signs KafkaUsers' client certificates."""
    operator: KeyPair
    """The operator's client certificate for the ``REPLICATION`` listener."""
    broker_digest: str
    """Digest of the broker-certs Secret's data, for the pod template: a change rolls the brokers."""
    renewed: tuple[str, ...]
    """What this call issued or renewed (``cluster CA``, ``broker-0``, ``operator``, ...), for Events."""


def broker_key(broker: int) -> str:
    """The broker-certs Secret key of a broker's PEM key store."""
    return f"broker-{broker}.pem"


def ensure_certificates(
    ctx: ReconcileContext, spec: ClusterSpec, *, broker_sans: Mapping[int, Sequence[str]]
) -> ClusterCertificates:
    """Make the CAs and certificates of a secured cluster current (see the module docstring); ``broker_sans``
    maps each broker id to every address it advertises."""
    now = ctx.now()
    renewed: list[str] = []
    cluster_ca = _ensure_ca(ctx, spec, CLUSTER_CA, now=now, renewed=renewed)
    clients_ca = _ensure_ca(ctx, spec, CLIENTS_CA, now=now, renewed=renewed)
    _write_secret(ctx, spec, names.cluster_ca_cert_secret_name(spec), {CA_CERT: cluster_ca.cert_pem})

    old = _own_data(ctx, spec, names.broker_certs_secret_name(spec))
    broker_data: dict[str, str] = {}
    for broker, requested in sorted(broker_sans.items()):
        key = broker_key(broker)
        if not _stale(spec, _parse_pem(old.get(key)), cluster_ca, sans=requested, now=now):
            broker_data[key] = old[key]
            continue
        pair = certificates.issue(
            cluster_ca,
            subject=names.broker_principal(spec),
            sans=requested,
            server=True,
            client=True,
            now=now,
            validity_days=spec.certificates.validity_days,
        )
        broker_data[key] = pair.pem
        renewed.append(f"broker-{broker}")
    broker_data.update({CA_CERT: cluster_ca.cert_pem, CLIENTS_CA_CERT: clients_ca.cert_pem})
    _write_secret(ctx, spec, names.broker_certs_secret_name(spec), broker_data)

    operator = _ensure_operator(ctx, spec, cluster_ca, now=now, renewed=renewed)
    return ClusterCertificates(
        cluster_ca_cert=cluster_ca.cert_pem,
        clients_ca=clients_ca,
        operator=operator,
        broker_digest=config_hash(json.dumps(broker_data, sort_keys=True)),
        renewed=tuple(renewed),
    )


def load_clients_ca(ctx: ReconcileContext, spec: ClusterSpec) -> KeyPair:
    """The clients CA, for issuing KafkaUsers' certificates; never creates or renews it."""
    return _read_ca(ctx, spec, CLIENTS_CA, now=ctx.now())


def load_cluster_ca_cert(ctx: ReconcileContext, spec: ClusterSpec) -> str:
    """The cluster CA certificate (PEM) from the public ``<c>-cluster-ca-cert`` Secret."""
    name = names.cluster_ca_cert_secret_name(spec)
    cert = secret_data(get_secret(ctx, spec.namespace, name)).get(CA_CERT)
    if not cert:
        raise CertificatesNotReady("CertificatesNotIssued", f"Secret {spec.namespace}/{name} does not exist yet")
    return cert


# --- CAs -------------------------------------------------------------------------------------------------

CLUSTER_CA, CLIENTS_CA = "cluster CA", "clients CA"
"""The CAs by their names in Events and messages."""


def _ca_spec(spec: ClusterSpec, label: str) -> tuple[CaSpec, str, str]:
    """The CA's spec, the Secret it is read from (the user's, or the generated one), and the generated one."""
    if label == CLUSTER_CA:
        ca_spec, generated = spec.certificates.cluster_ca, names.cluster_ca_secret_name(spec)
    else:
        ca_spec, generated = spec.certificates.clients_ca, names.clients_ca_secret_name(spec)
    return ca_spec, ca_spec.secret_name or generated, generated


def _ensure_ca(
    ctx: ReconcileContext, spec: ClusterSpec, label: str, *, now: datetime.datetime, renewed: list[str]
) -> KeyPair:
    """The CA, created or renewed when generated; a user-supplied CA is only read."""
    ca_spec, name, generated = _ca_spec(spec, label)
    if ca_spec.secret_name:
        return _read_ca(ctx, spec, label, now=now)
    validity = spec.certificates.ca_validity_days
    pair = _stored_pair(_own_data(ctx, spec, name), CA_CERT, CA_KEY)
    if pair is None or _ca_problem(pair, now=None):
        pair = certificates.new_ca(common_name=generated, now=now, validity_days=validity)
        renewed.append(label)
    elif _worth_renewing(pair.cert_pem, spec=spec, now=now, validity_days=validity):
        pair = certificates.renew_ca(pair, now=now, validity_days=validity)
        renewed.append(label)
    _write_secret(ctx, spec, name, {CA_CERT: pair.cert_pem, CA_KEY: pair.key_pem})
    return pair


def _read_ca(ctx: ReconcileContext, spec: ClusterSpec, label: str, *, now: datetime.datetime) -> KeyPair:
    """The CA as stored (the user's or the generated one), validated; CertificatesNotReady otherwise."""
    ca_spec, name, _ = _ca_spec(spec, label)
    where = f"the {label} Secret {spec.namespace}/{name}"
    secret = get_secret(ctx, spec.namespace, name)
    if secret is None:
        reason = "CaSecretMissing" if ca_spec.secret_name else "CertificatesNotIssued"
        raise CertificatesNotReady(reason, f"{where} does not exist")
    try:
        data = secret_data(secret)
    except ValueError as exc:  # base64 or UTF-8
        raise CertificatesNotReady("CaSecretInvalid", f"{where} cannot be decoded: {exc}") from exc
    pair = _stored_pair(data, TLS_CERT, TLS_KEY) or _stored_pair(data, CA_CERT, CA_KEY)
    if pair is None:
        raise CertificatesNotReady("CaSecretInvalid", f"{where} has neither tls.crt/tls.key nor ca.crt/ca.key")
    problem = _ca_problem(pair, now=now)
    if problem:
        raise CertificatesNotReady("CaSecretInvalid", f"{where}: {problem}")
    return pair


def _ca_problem(pair: KeyPair, *, now: datetime.datetime | None) -> str | None:
    """Why the pair cannot serve as a CA (expired only when ``now`` is given), or None."""
    try:
        if not certificates.matches(pair):
            return "the key does not belong to the certificate"
        if not certificates.is_ca(pair.cert_pem):
            return "the certificate is not a CA (basicConstraints CA:TRUE)"
        end = certificates.not_after(pair.cert_pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        return f"the certificate or key cannot be read: {exc}"
    if now is not None and end <= now:
        return f"the CA certificate expired at {end.isoformat()}"
    return None


# --- leaf certificates -----------------------------------------------------------------------------------


def _ensure_operator(
    ctx: ReconcileContext, spec: ClusterSpec, cluster_ca: KeyPair, *, now: datetime.datetime, renewed: list[str]
) -> KeyPair:
    name = names.operator_certs_secret_name(spec)
    pair = _stored_pair(_own_data(ctx, spec, name), TLS_CERT, TLS_KEY)
    if pair is None or _stale(spec, pair, cluster_ca, sans=(), now=now):
        pair = certificates.issue(
            cluster_ca,
            subject=names.operator_principal(spec),
            client=True,
            now=now,
            validity_days=spec.certificates.validity_days,
        )
        renewed.append("operator")
    _write_secret(ctx, spec, name, {TLS_CERT: pair.cert_pem, TLS_KEY: pair.key_pem, CA_CERT: cluster_ca.cert_pem})
    return pair


def _stale(
    spec: ClusterSpec, pair: KeyPair | None, ca: KeyPair, *, sans: Sequence[str], now: datetime.datetime
) -> bool:
    """The leaf certificate must be (re-)issued: missing or unreadable, for another key, other SANs, not issued
    by ``ca``, or worth renewing."""
    if pair is None:
        return True
    try:
        return (
            not certificates.matches(pair)
            or certificates.sans(pair.cert_pem) != certificates.canonical_sans(sans)
            or not certificates.issued_by(pair.cert_pem, ca.cert_pem)
            or _worth_renewing(
                pair.cert_pem,
                spec=spec,
                now=now,
                validity_days=spec.certificates.validity_days,
                capped_at=certificates.not_after(ca.cert_pem),
            )
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return True


def _worth_renewing(
    cert_pem: str,
    *,
    spec: ClusterSpec,
    now: datetime.datetime,
    validity_days: int,
    capped_at: datetime.datetime | None = None,
) -> bool:
    """Due, and either expired or replaceable by a certificate that would not be due itself (its validity is
    ``validity_days``, or ends at ``capped_at``, its CA's end)."""
    renewal = spec.certificates.renewal_days
    if not certificates.due(cert_pem, now=now, renewal_days=renewal):
        return False
    if certificates.not_after(cert_pem) <= now:
        return True
    fresh_end = now + datetime.timedelta(days=validity_days)
    if capped_at is not None:
        fresh_end = min(fresh_end, capped_at)
    return now < fresh_end - datetime.timedelta(days=renewal)


# --- Secrets ---------------------------------------------------------------------------------------------


def _own_data(ctx: ReconcileContext, spec: ClusterSpec, name: str) -> dict[str, str]:
    """A Secret the operator writes, decoded; empty when it is missing or damaged (then it is rewritten)."""
    try:
        return secret_data(get_secret(ctx, spec.namespace, name))
    except ValueError:  # base64 or UTF-8
        return {}


def _parse_pem(pem: str | None) -> KeyPair | None:
    """A broker's stored key store, or None when it is missing or does not parse (then it is re-issued)."""
    if not pem:
        return None
    try:
        return KeyPair.from_pem(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None


def _stored_pair(data: Mapping[str, str], cert_key: str, key_key: str) -> KeyPair | None:
    """The pair stored under two keys of a Secret, or None when either is missing."""
    if not data.get(cert_key) or not data.get(key_key):
        return None
    return KeyPair(data[cert_key], data[key_key])


def _write_secret(ctx: ReconcileContext, spec: ClusterSpec, name: str, data: Mapping[str, str]) -> None:
    """Server-side apply an Opaque Secret owned by the KafkaCluster, unless it already holds exactly this."""
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": names.metadata(spec, name, names.BROKER),
        "type": "Opaque",
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in sorted(data.items())},
    }
    existing = get_secret(ctx, spec.namespace, name)
    if existing is None or not secret_holds(existing, manifest):
        ctx.kube.apply(manifest)


