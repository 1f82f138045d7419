"""Idempotent create-or-update through server-side apply.

Server-side apply with one field manager makes "create", "update" and "repair drift" one call: the API
server sets exactly the fields we own back to our values, leaves fields others own (defaults, status,
the StatefulSet controller's bookkeeping) alone, and creates the object when it is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .context import ReconcileContext


@dataclass(frozen=True)
class Applied:
    kind: str
    name: str
    created: bool
    changed: bool
    object: dict[str, Any]


def get(ctx: ReconcileContext, manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    """The stored object a manifest describes, or None when it does not exist."""
    meta = manifest["metadata"]
    return ctx.kube.get(
        api_version=manifest["apiVersion"], kind=manifest["kind"], name=meta["name"], namespace=meta.get("namespace")
    )


def apply(ctx: ReconcileContext, manifest: Mapping[str, Any]) -> Applied:
    before = get(ctx, manifest)
    result = ctx.kube.apply(manifest)
    old_version = (before or {}).get("metadata", {}).get("resourceVersion")
    return Applied(
        kind=manifest["kind"],
        name=manifest["metadata"]["name"],
        created=before is None,
        changed=before is not None and old_version != result["metadata"]["resourceVersion"],
        object=result,
    )
