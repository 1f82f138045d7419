"""settings.py: the operator's settings from its environment, with the chart's spelling of each variable."""

from __future__ import annotations

import pytest

from kafka_operator.settings import IdentitySettings, OperatorSettings


def test_defaults_without_environment(monkeypatch: pytest.MonkeyPatch):
    for name in ("KOPFKA_OPERATOR_NAMESPACE", "KOPFKA_OPERATOR_POD_LABELS", "KOPFKA_USER_RESYNC_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    settings = OperatorSettings.from_env()
    assert settings.identity == IdentitySettings(namespace="", pod_labels={})
    assert settings.reconcile.user_resync_seconds == 60


def test_operator_identity_and_user_resync(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KOPFKA_OPERATOR_NAMESPACE", "kopfka")
    monkeypatch.setenv(
        "KOPFKA_OPERATOR_POD_LABELS", "app.kubernetes.io/instance=kopfka, app.kubernetes.io/name=kopfka-operator"
    )
    monkeypatch.setenv("KOPFKA_USER_RESYNC_SECONDS", "7.5")
    settings = OperatorSettings.from_env()
    assert settings.identity.namespace == "kopfka"
    assert settings.identity.pod_labels == {
        "app.kubernetes.io/instance": "kopfka",
        "app.kubernetes.io/name": "kopfka-operator",
    }
    assert settings.reconcile.user_resync_seconds == 7.5


@pytest.mark.parametrize("labels", ["app", "=x", "a=b,c"])
def test_malformed_pod_labels_are_refused(monkeypatch: pytest.MonkeyPatch, labels: str):
    monkeypatch.setenv("KOPFKA_OPERATOR_POD_LABELS", labels)
    with pytest.raises(ValueError, match="KOPFKA_OPERATOR_POD_LABELS"):
        OperatorSettings.from_env()
