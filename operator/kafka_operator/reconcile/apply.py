"""Idempotent create-or-update through server-side apply.

Server-side apply with one field manager makes "create", "update" and "repair drift" one call: the API
server sets exactly the fields we own back to our values, leaves fields others own (defaults, status,
the StatefulSet controller's bookkeeping) alone, and creates the object when it is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kubernetes

from .context import FIELD_MANAGER, ReconcileContext


@dataclass(frozen=True)
class Applied:
    kind: str
    name: str
    created: bool
    changed: bool
    object: dict[str, Any]


def _resource(ctx: ReconcileContext, manifest: Mapping[str, Any]) -> Any:
    return ctx.dynamic.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])


def get(ctx: ReconcileContext, manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    meta = manifest["metadata"]
    try:
        return ctx.dynamic.get(_resource(ctx, manifest), name=meta["name"], namespace=meta.get("namespace")).to_dict()
    except kubernetes.dynamic.exceptions.NotFoundError:
        return None


def apply(ctx: ReconcileContext, manifest: Mapping[str, Any]) -> Applied:
    before = get(ctx, manifest)
    result = ctx.dynamic.server_side_apply(
        _resource(ctx, manifest), body=dict(manifest), field_manager=FIELD_MANAGER, force_conflicts=True
    ).to_dict()
    old_version = (before or {}).get("metadata", {}).get("resourceVersion")
    return Applied(
        kind=manifest["kind"],
        name=manifest["metadata"]["name"],
        created=before is None,
        changed=before is not None and old_version != result["metadata"]["resourceVersion"],
        object=result,
    )
