"""kopf wiring: events on KafkaClusters, KafkaTopics and owned objects → reconcile steps. No logic here.

Run with ``kopf run -m kafka_operator.handlers`` (``--all-namespaces`` or ``-n NS``; the chart does it).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from typing import Any

import kopf

from . import CLUSTER_PLURAL, GROUP, TOPIC_PLURAL, USER_PLURAL, VERSION
from .model import names
from .model.user import ROTATE_PASSWORD_ANNOTATION
from .reconcile import cluster as cluster_steps
from .reconcile import topic as topic_steps
from .reconcile import user as user_steps
from .reconcile.context import ReconcileContext
from .settings import OperatorSettings
from .webhooks import (
    CLUSTER_WEBHOOK_ID,
    USER_WEBHOOK_ID,
    WEBHOOK_ID,
    cluster_admission_error,
    topic_admission_error,
    user_admission_error,
    webhook_server,
)

SETTINGS = OperatorSettings.from_env()
OWNED = {names.MANAGED_BY_LABEL: names.MANAGED_BY}
_ctx: ReconcileContext | None = None
_ctx_lock = threading.Lock()


def ctx() -> ReconcileContext:
    """The one context (and so the one set of per-cluster locks), made on first use by any handler thread."""
    global _ctx
    with _ctx_lock:
        if _ctx is None:
            _ctx = ReconcileContext.from_environment(SETTINGS)
        return _ctx


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Progress and diff-base in annotations: the CRDs' status schemas stay ours alone.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.posting.level = 100  # events are recorded by the reconcile itself, not from kopf's logs
    settings.peering.standalone = True
    settings.watching.server_timeout = 300
    if SETTINGS.webhook.enabled:
        settings.admission.server = webhook_server(SETTINGS.webhook)


# --- KafkaCluster ----------------------------------------------------------------------------


@kopf.on.resume(GROUP, VERSION, CLUSTER_PLURAL)
@kopf.on.create(GROUP, VERSION, CLUSTER_PLURAL)
@kopf.on.update(GROUP, VERSION, CLUSTER_PLURAL, field="spec")
async def reconcile_cluster(body: kopf.Body, **_: Any) -> None:
    meta = body["metadata"]
    await cluster_steps.exclusively(ctx(), meta["namespace"], meta["name"], cluster_steps.reconcile_cluster)


@kopf.timer(GROUP, VERSION, CLUSTER_PLURAL, interval=SETTINGS.reconcile.resync_seconds)
async def resync_cluster(body: kopf.Body, **_: Any) -> None:
    meta = body["metadata"]
    await cluster_steps.exclusively(ctx(), meta["namespace"], meta["name"], cluster_steps.reconcile_cluster)


def _owner(body: kopf.Body, kind: str = "KafkaCluster") -> tuple[str, str] | None:
    """(namespace, name) of the custom resource of ``kind`` that owns this object, if one does."""
    for ref in body.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("kind") == kind and ref.get("apiVersion", "").startswith(f"{GROUP}/"):
            return body["metadata"]["namespace"], ref["name"]
    return None


async def _owned_event(type: str | None, body: kopf.Body, *, repair: bool) -> None:
    """An owned object changed: a deletion (drift) re-runs the reconcile, anything else refreshes status."""
    owner = _owner(body)
    if owner is None:
        return
    step = cluster_steps.reconcile_cluster if repair and type == "DELETED" else cluster_steps.refresh_status
    await cluster_steps.exclusively(ctx(), *owner, step)


@kopf.on.event("v1", "secrets", labels=OWNED)
@kopf.on.event("networking.k8s.io", "v1", "networkpolicies", labels=OWNED)
@kopf.on.event("v1", "services", labels=OWNED)
@kopf.on.event("v1", "configmaps", labels=OWNED)
@kopf.on.event("policy", "v1", "poddisruptionbudgets", labels=OWNED)
async def owned_object_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    if type == "DELETED":
        await _owned_event(type, body, repair=True)
        user = _owner(body, "KafkaUser")
        if user is not None:  # a deleted user Secret: a new password (SCRAM) or certificate is issued
            await user_exclusively(*user, user_steps.reconcile_user)


@kopf.on.event("apps", "v1", "statefulsets", labels=OWNED)
async def statefulset_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    # Replica readiness arrives here (the StatefulSet's status), so the cluster's status follows it.
    await _owned_event(type, body, repair=True)


# --- KafkaTopic ------------------------------------------------------------------------------


@kopf.on.resume(GROUP, VERSION, TOPIC_PLURAL)
@kopf.on.create(GROUP, VERSION, TOPIC_PLURAL)
@kopf.on.update(GROUP, VERSION, TOPIC_PLURAL, field="spec")
def reconcile_topic(body: kopf.Body, **_: Any) -> None:
    try:
        topic_steps.reconcile_topic(ctx(), dict(body))
    except topic_steps.TopicNotReady as exc:
        raise kopf.TemporaryError(str(exc), delay=5) from exc


@kopf.on.delete(GROUP, VERSION, TOPIC_PLURAL)
def delete_topic(body: kopf.Body, **_: Any) -> None:
    topic_steps.delete_topic(ctx(), dict(body))


# --- KafkaUser -------------------------------------------------------------------------------


def _user_on_latest(
    namespace: str, name: str, step: Callable[[ReconcileContext, Mapping[str, Any]], object]
) -> None:
    body = ctx().kube.get_custom(USER_PLURAL, namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return
    try:
        step(ctx(), body)
    except user_steps.UserNotReady as exc:
        raise kopf.TemporaryError(str(exc), delay=10) from exc


async def user_exclusively(
    namespace: str, name: str, step: Callable[[ReconcileContext, Mapping[str, Any]], object]
) -> None:
    """One reconcile of a KafkaUser at a time (its handlers, its timer and its Secret's events), each on the
    KafkaUser as stored when it starts: two at once could each generate a password."""
    async with ctx().locks.lock(namespace, f"{USER_PLURAL}/{name}"):  # "/" never occurs in a cluster's name
        await asyncio.to_thread(_user_on_latest, namespace, name, step)


@kopf.on.resume(GROUP, VERSION, USER_PLURAL)
@kopf.on.create(GROUP, VERSION, USER_PLURAL)
@kopf.on.update(GROUP, VERSION, USER_PLURAL, field="spec")
@kopf.on.update(GROUP, VERSION, USER_PLURAL, annotations={ROTATE_PASSWORD_ANNOTATION: kopf.PRESENT})
async def reconcile_user(body: kopf.Body, **_: Any) -> None:
    meta = body["metadata"]
    await user_exclusively(meta["namespace"], meta["name"], user_steps.reconcile_user)


@kopf.timer(GROUP, VERSION, USER_PLURAL, interval=SETTINGS.reconcile.user_resync_seconds)
async def resync_user(body: kopf.Body, **_: Any) -> None:
    """Drift repair: credentials, ACLs or quotas changed behind the operator's back, renewed certificates."""
    meta = body["metadata"]
    await user_exclusively(meta["namespace"], meta["name"], user_steps.reconcile_user)


@kopf.on.delete(GROUP, VERSION, USER_PLURAL)
async def delete_user(body: kopf.Body, **_: Any) -> None:
    meta = body["metadata"]
    async with ctx().locks.lock(meta["namespace"], f"{USER_PLURAL}/{meta['name']}"):
        try:
            await asyncio.to_thread(user_steps.delete_user, ctx(), dict(body))
        except user_steps.UserNotReady as exc:
            raise kopf.TemporaryError(str(exc), delay=10) from exc


def validate_topic(*, body: kopf.Body, old: kopf.Body | None = None, **_: Any) -> None:
    """kopf passes ``old`` (the stored object, None on CREATE) among its admission keyword arguments."""
    error = topic_admission_error(ctx(), dict(body), old=dict(old) if old else None)
    if error:
        raise kopf.AdmissionError(error, code=422)


def validate_user(*, body: kopf.Body, old: kopf.Body | None = None, **_: Any) -> None:
    error = user_admission_error(dict(body), old=dict(old) if old else None)
    if error:
        raise kopf.AdmissionError(error, code=422)


def validate_cluster(*, body: kopf.Body, old: kopf.Body | None = None, **_: Any) -> None:
    error = cluster_admission_error(dict(body), old=dict(old) if old else None)
    if error:
        raise kopf.AdmissionError(error, code=422)


# kopf refuses to start with admission handlers but no webhook server: register only when enabled.
# The webhook's URL path is the handler id; the chart's ValidatingWebhookConfiguration names it.
if SETTINGS.webhook.enabled:
    kopf.on.validate(GROUP, VERSION, TOPIC_PLURAL, id=WEBHOOK_ID, operations=["CREATE", "UPDATE"])(validate_topic)
    kopf.on.validate(GROUP, VERSION, CLUSTER_PLURAL, id=CLUSTER_WEBHOOK_ID, operations=["CREATE", "UPDATE"])(
        validate_cluster
    )
    kopf.on.validate(GROUP, VERSION, USER_PLURAL, id=USER_WEBHOOK_ID, operations=["CREATE", "UPDATE"])(validate_user)
