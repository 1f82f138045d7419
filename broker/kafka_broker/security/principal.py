"""Who a request comes from: Kafka's ``KafkaPrincipal`` — a type (always ``User`` for the principals the
broker builds) and a name: ``User:ANONYMOUS`` on a PLAINTEXT or SSL listener without a client certificate, the
SASL user name after SASL, the mapped certificate DN with mutual TLS. ACLs name principals as ``User:alice``;
quotas use the name alone."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ANONYMOUS", "USER_TYPE", "KafkaPrincipal"]

USER_TYPE = "User"


@dataclass(frozen=True, slots=True)
class KafkaPrincipal:
    type: str
    name: str

    def __str__(self) -> str:
        return f"{self.type}:{self.name}"

    @classmethod
    def parse(cls, text: str) -> KafkaPrincipal:
        """``User:alice`` (Kafka's ``SecurityUtils.parseKafkaPrincipal``: the type ends at the first colon)."""
        kind, colon, name = text.partition(":")
        if not colon or not kind:
            raise ValueError(f"expected a principal as Type:name, got {text!r}")
        return cls(kind, name)

    @classmethod
    def user(cls, name: str) -> KafkaPrincipal:
        return cls(USER_TYPE, name)


ANONYMOUS = KafkaPrincipal(USER_TYPE, "ANONYMOUS")
"""The principal of a client that did not authenticate (Kafka's ``KafkaPrincipal.ANONYMOUS``)."""
