"""KafkaUser reconcile: the user's credentials, ACLs and quotas in the brokers, its Secret, and its status.

Steps: validate the spec (refused → nothing is touched, one warning Event) → find the KafkaCluster (missing, not
secured for a TLS user, or without a ready broker → ``UserNotReady``, retried) → connect as the operator
(``access.admin_connection``) → credentials:

- **SCRAM**: the password in the user's Secret, or a new one (``secrets.token_urlsafe``, 32 characters) when the
  Secret has none or the KafkaUser carries the ``kopfka.io/rotate-password`` annotation. The ``SCRAM-SHA-512``
  credential (4096 iterations) is written when the password is new, or when the brokers have none (drift).
- **TLS**: a client certificate ``CN=<user>`` from the clients CA, issued when the Secret has none, or one that is
  not this user's, not issued by the current clients CA, or due for renewal; otherwise kept byte for byte.

→ ACLs: the principal's ACLs as described, the missing ones created, the extra ones deleted (only this principal's)
→ quotas: the user entity's ``producer_byte_rate``, ``consumer_byte_rate``, ``request_percentage`` set or removed
→ a previous identity (``status.username`` of another authentication type) loses its credentials, ACLs and
quotas → the Secret, written only when its data changes (so the SCRAM credential is written first: a failure
between the two leaves the old password working or generates another one next time, never a Secret whose password
the brokers do not know) → the rotation annotation removed → status ``Ready``. Events record real changes only.

Deletion (behind kopf's finalizer) removes the SCRAM credentials, the principal's ACLs and its quotas; a cluster
that is gone (or going) leaves nothing to clean. The Secret goes with the KafkaUser (its owner).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import secrets
from collections.abc import Mapping
from typing import Any, NoReturn

from cryptography.exceptions import UnsupportedAlgorithm

from .. import CLUSTER_PLURAL, USER_PLURAL
from ..model import certificates
from ..model.certificates import KeyPair
from ..model.conditions import READY, Condition, merge_conditions
from ..model.spec import ClusterSpec
from ..model.user import (
    QUOTA_KEYS,
    ROTATE_PASSWORD_ANNOTATION,
    SCRAM_MECHANISM,
    TLS,
    Credentials,
    ScramCredentials,
    TlsCredentials,
    UserSpec,
    is_tls_principal_name,
    pkcs12_keystore,
    principal,
    secret_data,
    user_secret,
    validate,
)
from .access import AccessNotReady, admin_connection, get_secret, secret_holds
from .certificates import CertificatesNotReady, load_clients_ca, load_cluster_ca_cert
from .context import ReconcileContext
from .user_admin import UserAdmin, UserAdminError

PASSWORD_BYTES = 24
"""Random bytes of a generated password: 32 URL-safe characters."""


class UserNotReady(Exception):
    """The user cannot be reconciled yet (cluster missing or not ready, brokers unreachable); retry later."""


def reconcile_user(ctx: ReconcileContext, body: Mapping[str, Any]) -> dict[str, Any]:
    spec = UserSpec.from_resource(body)
    refusal = validate(spec)
    if refusal:
        reason, message = refusal
        return _report(ctx, body, spec, Condition(READY, False, reason, message))
    cluster_body = ctx.kube.get_custom(CLUSTER_PLURAL, spec.namespace, spec.cluster)
    if cluster_body is None:
        _not_ready(ctx, body, spec, "ClusterNotFound", f"KafkaCluster {spec.cluster} not found in {spec.namespace}")
    cluster = ClusterSpec.from_resource(cluster_body)
    cluster_status: Mapping[str, Any] = cluster_body.get("status") or {}
    if spec.authentication == TLS and not cluster.secured:
        message = f"KafkaCluster {spec.cluster} is not secured (no TLS or authenticated listener): it has no clients CA"
        _not_ready(ctx, body, spec, "ClusterNotSecured", message)
    if not cluster_status.get("readyBrokers"):
        _not_ready(ctx, body, spec, "ClusterNotReady", f"KafkaCluster {spec.cluster} has no ready broker yet")

    try:
        connection = admin_connection(ctx, cluster)
        secret = get_secret(ctx, spec.namespace, spec.secret_name)
        stored = _decoded(secret)
        credentials: Credentials
        news: tuple[str, str] | None
        if spec.authentication == TLS:
            credentials, news = _tls_credentials(ctx, spec, cluster, stored)
        else:
            credentials, news = _scram_credentials(spec, stored)
        ca_cert = load_cluster_ca_cert(ctx, cluster) if cluster.secured else None
        with contextlib.closing(ctx.user_admin(connection)) as admin:
            if isinstance(credentials, ScramCredentials):
                _sync_scram(ctx, body, spec, admin, credentials, new_password=news is not None)
            _sync_acls(ctx, body, spec, admin)
            _sync_quotas(ctx, body, spec, admin)
            _forget_previous_identity(ctx, body, spec, admin)
        data = secret_data(spec, credentials, listeners=cluster_status.get("listeners") or (), ca_cert_pem=ca_cert)
        _write_secret(ctx, body, spec, secret, data)
        if news:
            ctx.event(body, reason=news[0], message=news[1])
        if spec.rotate_password:
            patch = {"metadata": {"annotations": {ROTATE_PASSWORD_ANNOTATION: None}}}
            ctx.kube.patch_custom(USER_PLURAL, spec.namespace, spec.name, patch)
    except AccessNotReady as exc:
        _not_ready(ctx, body, spec, "AccessNotReady", str(exc))
    except CertificatesNotReady as exc:
        _not_ready(ctx, body, spec, exc.reason, exc.message)
    except UserAdminError as exc:
        _not_ready(ctx, body, spec, "KafkaError", f"Kafka admin request failed: {exc}")
    message = f"{spec.principal} has its credentials, ACLs and quotas; Secret {spec.secret_name}"
    return _report(ctx, body, spec, Condition(READY, True, "Synced", message), ready=True)


def delete_user(ctx: ReconcileContext, body: Mapping[str, Any]) -> None:
    """Remove the user's SCRAM credentials, ACLs and quotas (this identity's and a previous one's)."""
    spec = UserSpec.from_resource(body)
    cluster_body = ctx.kube.get_custom(CLUSTER_PLURAL, spec.namespace, spec.cluster)
    if cluster_body is None or cluster_body.get("metadata", {}).get("deletionTimestamp"):
        return  # the cluster, and its users with it, is gone
    cluster = ClusterSpec.from_resource(cluster_body)
    previous = (body.get("status") or {}).get("username")
    identities = sorted({spec.principal_name, *([previous] if previous else [])})
    try:
        with contextlib.closing(ctx.user_admin(admin_connection(ctx, cluster))) as admin:
            for name in identities:
                _remove_identity(admin, name)
    except AccessNotReady as exc:
        raise UserNotReady(str(exc)) from exc
    except UserAdminError as exc:
        raise UserNotReady(f"Kafka admin request failed: {exc}") from exc
    ctx.event(body, reason="UserDeleted", message=f"removed the credentials, ACLs and quotas of {spec.principal}")


# --- credentials -----------------------------------------------------------------------------


def _new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def _scram_credentials(spec: UserSpec, stored: Mapping[str, bytes]) -> tuple[ScramCredentials, tuple[str, str] | None]:
    """The password, and ``(reason, message)`` of an Event when it is new."""
    if spec.rotate_password:
        return ScramCredentials(_new_password()), ("PasswordRotated", f"new password for {spec.username}")
    if stored.get("password"):
        return ScramCredentials(stored["password"].decode()), None
    return ScramCredentials(_new_password()), ("PasswordGenerated", f"generated a password for {spec.username}")


def _tls_credentials(
    ctx: ReconcileContext, spec: UserSpec, cluster: ClusterSpec, stored: Mapping[str, bytes]
) -> tuple[TlsCredentials, tuple[str, str] | None]:
    """The client certificate (kept, or issued by the clients CA), and an Event's ``(reason, message)`` when it is
    new. The PKCS #12 key store is rebuilt only with the certificate, so the Secret stays byte for byte."""
    ca = load_clients_ca(ctx, cluster)
    now = ctx.now()
    cert, key = stored.get("user.crt"), stored.get("user.key")
    pair = KeyPair(cert.decode(), key.decode()) if cert and key else None
    why = _issue_reason(pair, ca, spec=spec, cluster=cluster, now=now)
    if pair is not None and why is None:
        if stored.get("user.p12") and stored.get("user.password"):
            kept = TlsCredentials(pair.cert_pem, pair.key_pem, stored["user.p12"], stored["user.password"].decode())
            return kept, None
        news = None
    else:
        pair = certificates.issue(
            ca,
            subject=f"CN={spec.username}",
            client=True,
            now=now,
            validity_days=cluster.certificates.validity_days,
        )
        expires = certificates.not_after(pair.cert_pem).isoformat()
        news = ("CertificateIssued", f"client certificate CN={spec.username} {why}, valid until {expires}")
    password = _new_password()
    p12 = pkcs12_keystore(
        alias=spec.username, cert_pem=pair.cert_pem, key_pem=pair.key_pem, ca_cert_pem=ca.cert_pem, password=password
    )
    return TlsCredentials(pair.cert_pem, pair.key_pem, p12, password), news


def _issue_reason(
    pair: KeyPair | None, ca: KeyPair, *, spec: UserSpec, cluster: ClusterSpec, now: datetime.datetime
) -> str | None:
    """Why the user's certificate must be (re-)issued, or None to keep it."""
    if pair is None:
        return "issued"
    try:
        if not certificates.matches(pair) or certificates.subject(pair.cert_pem) != f"CN={spec.username}":
            return "replaced (the stored one is not this user's)"
        if not certificates.issued_by(pair.cert_pem, ca.cert_pem):
            return "replaced (the clients CA changed)"
        renewal = cluster.certificates.renewal_days
        if certificates.due(pair.cert_pem, now=now, renewal_days=renewal):
            # Not when a new one would be due at once (the CA ends within the renewal window): that would
            # re-issue at every reconcile. An expired certificate is always replaced.
            fresh_end = min(
                now + datetime.timedelta(days=cluster.certificates.validity_days),
                certificates.not_after(ca.cert_pem),
            )
            expired = certificates.not_after(pair.cert_pem) <= now
            if expired or now < fresh_end - datetime.timedelta(days=renewal):
                return "renewed"
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return "replaced (the stored one cannot be read)"
    return None


# --- Kafka -----------------------------------------------------------------------------------


def _sync_scram(
    ctx: ReconcileContext,
    body: Mapping[str, Any],
    spec: UserSpec,
    admin: UserAdmin,
    credentials: ScramCredentials,
    *,
    new_password: bool,
) -> None:
    if new_password:
        admin.upsert_scram(spec.username, credentials.password)
    elif SCRAM_MECHANISM not in admin.scram_mechanisms(spec.username):
        admin.upsert_scram(spec.username, credentials.password)
        message = f"the brokers had no {SCRAM_MECHANISM} credential for {spec.username}: restored it"
        ctx.event(body, reason="ScramCredentialRestored", message=message)


def _sync_acls(ctx: ReconcileContext, body: Mapping[str, Any], spec: UserSpec, admin: UserAdmin) -> None:
    desired = spec.acl_bindings()
    current = admin.describe_acls(spec.principal)
    missing, extra = sorted(desired - current), sorted(current - desired)
    admin.create_acls(missing)
    admin.delete_acls(extra)
    if missing or extra:
        changes = [f"+ {b}" for b in missing] + [f"- {b}" for b in extra]
        message = f"{spec.principal}: {len(missing)} ACL(s) created, {len(extra)} deleted: " + "; ".join(changes)
        ctx.event(body, reason="AclsUpdated", message=message)


def _sync_quotas(ctx: ReconcileContext, body: Mapping[str, Any], spec: UserSpec, admin: UserAdmin) -> None:
    desired = spec.kafka_quotas()
    current = admin.describe_quotas(spec.principal_name)
    changed = {key: value for key, value in desired.items() if current.get(key) != value}
    removed = sorted(key for key in current if key in QUOTA_KEYS.values() and key not in desired)
    if changed or removed:
        admin.alter_quotas(spec.principal_name, set_quotas=changed, remove=removed)
        parts = [f"{key}={value:g}" for key, value in sorted(changed.items())] + [f"{key} removed" for key in removed]
        ctx.event(body, reason="QuotasUpdated", message=f"{spec.principal}: " + ", ".join(parts))


def _forget_previous_identity(
    ctx: ReconcileContext, body: Mapping[str, Any], spec: UserSpec, admin: UserAdmin
) -> None:
    """The authentication type changed (``status.username`` names the other principal): the old one goes."""
    previous = (body.get("status") or {}).get("username")
    if previous and previous != spec.principal_name:
        _remove_identity(admin, previous)
        message = f"{principal(previous)} (the previous authentication) lost its credentials, ACLs and quotas"
        ctx.event(body, reason="PreviousIdentityRemoved", message=message)


def _remove_identity(admin: UserAdmin, principal_name: str) -> None:
    if not is_tls_principal_name(principal_name):
        admin.delete_scram(principal_name)
    admin.delete_acls(sorted(admin.describe_acls(principal(principal_name))))
    ours = sorted(key for key in admin.describe_quotas(principal_name) if key in QUOTA_KEYS.values())
    if ours:
        admin.alter_quotas(principal_name, set_quotas={}, remove=ours)


# --- Secret and status -----------------------------------------------------------------------


def _decoded(secret: Mapping[str, Any] | None) -> dict[str, bytes]:
    """A Secret's data as bytes (``user.p12`` is binary); a value that is not base64 counts as missing."""
    result: dict[str, bytes] = {}
    for key, value in ((secret or {}).get("data") or {}).items():
        with contextlib.suppress(binascii.Error, ValueError, TypeError):
            result[key] = base64.b64decode(value, validate=True)
    return result


def _write_secret(
    ctx: ReconcileContext,
    body: Mapping[str, Any],
    spec: UserSpec,
    existing: Mapping[str, Any] | None,
    data: Mapping[str, bytes],
) -> None:
    """Server-side apply the Secret unless it already holds exactly this; an Event when the stored object changed
    (keys another manager added to it make every apply a no-op the API server does not count as a change)."""
    manifest = user_secret(spec, data)
    if existing is not None and secret_holds(existing, manifest):
        return
    result = ctx.kube.apply(manifest)
    if existing is None:
        ctx.event(body, reason="SecretCreated", message=f"created Secret {spec.secret_name}")
    elif result["metadata"].get("resourceVersion") != existing["metadata"].get("resourceVersion"):
        ctx.event(body, reason="SecretUpdated", message=f"updated Secret {spec.secret_name}")


def _report(
    ctx: ReconcileContext, body: Mapping[str, Any], spec: UserSpec, condition: Condition, *, ready: bool = False
) -> dict[str, Any]:
    """Write the status. A condition that is not Ready is a warning Event when it is news (a new spec, or another
    reason than the status has): a retried ``ClusterNotReady`` is one Event, not one per retry. ``username`` is
    written only when ready, so it keeps naming the identity the brokers have until the new one replaces it."""
    meta = body["metadata"]
    old = body.get("status") or {}
    if not ready:
        previous: Mapping[str, Any] = next((c for c in old.get("conditions") or [] if c.get("type") == READY), {})
        if old.get("observedGeneration") != meta.get("generation") or previous.get("reason") != condition.reason:
            ctx.event(body, reason=condition.reason, message=condition.message, warning=True)
    status: dict[str, Any] = {
        "phase": "Ready" if ready else "NotReady",
        "conditions": merge_conditions(old.get("conditions"), [condition], now=_iso(ctx.now())),
        "observedGeneration": meta.get("generation"),
    }
    if ready:
        status.update(username=spec.principal_name, secret=spec.secret_name)
    ctx.kube.patch_custom_status(USER_PLURAL, meta["namespace"], meta["name"], status)
    return status


def _not_ready(ctx: ReconcileContext, body: Mapping[str, Any], spec: UserSpec, reason: str, message: str) -> NoReturn:
    _report(ctx, body, spec, Condition(READY, False, reason, message))
    raise UserNotReady(message)


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
