"""Kubernetes-style status conditions (``type``, ``status``, ``reason``, ``message``, ``lastTransitionTime``).

``lastTransitionTime`` moves only when ``status`` changes, so ``kubectl get`` ages and watchers see real
transitions rather than every reconcile.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

READY = "Ready"
RECONCILED = "Reconciled"
LISTENERS_READY = "ListenersReady"
"""Every external listener has the ports and addresses its brokers advertise."""
ROLLING = "Rolling"


@dataclass(frozen=True)
class Condition:
    type: str
    status: bool
    reason: str
    message: str = ""


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_conditions(
    current: Iterable[Mapping[str, Any]] | None, updates: Iterable[Condition], *, now: str | None = None
) -> list[dict[str, Any]]:
    """Current conditions with ``updates`` applied, ordered by type, transition times kept where unchanged."""
    now = now or now_iso()
    by_type = {c["type"]: dict(c) for c in current or () if "type" in c}
    for cond in updates:
        status = "True" if cond.status else "False"
        old = by_type.get(cond.type)
        unchanged = old is not None and old.get("status") == status
        by_type[cond.type] = {
            "type": cond.type,
            "status": status,
            "reason": cond.reason,
            "message": cond.message,
            "lastTransitionTime": old.get("lastTransitionTime", now) if old is not None and unchanged else now,
        }
    return [by_type[t] for t in sorted(by_type)]
