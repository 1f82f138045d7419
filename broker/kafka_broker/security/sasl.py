"""What every SASL mechanism shares: the mechanism names kopfka serves, the one failure type, and the shape of a
mechanism's server side.

A SASL server is a state machine over opaque tokens: the listener passes each client token (the
``auth_bytes`` of a SaslAuthenticate request, or a raw frame after a v0 SaslHandshake) to
:meth:`SaslServer.evaluate` and sends back what it returns, until :attr:`SaslServer.complete`; the
authenticated user is then :attr:`SaslServer.authorization_id`. Any failure raises
:class:`SaslAuthenticationError`, whose ``message`` is what Kafka tells the client (SASL_AUTHENTICATION_FAILED's
error message) and whose ``detail`` is what only the broker's log should see.

Kafka's ``SaslServerAuthenticator`` sends a mechanism's own message to the client only where the mechanism
chose to (a ``SaslAuthenticationException``); every other failure (a ``SaslException``: unknown user, wrong
password, malformed message) reaches the client as one fixed text, so a client cannot tell them apart —
:func:`invalid_credentials` builds that error.
"""

from __future__ import annotations

from typing import Protocol

from kafka_broker.config.listeners import SASL_MECHANISMS

__all__ = [
    "PLAIN",
    "SCRAM_SHA_256",
    "SCRAM_SHA_512",
    "SUPPORTED_MECHANISMS",
    "SaslAuthenticationError",
    "SaslServer",
    "invalid_credentials",
]

PLAIN = "PLAIN"
SCRAM_SHA_256 = "SCRAM-SHA-256"
SCRAM_SHA_512 = "SCRAM-SHA-512"
SUPPORTED_MECHANISMS: tuple[str, ...] = SASL_MECHANISMS
"""The SASL mechanisms kopfka serves (``sasl.enabled.mechanisms`` may name these; Kafka's GSSAPI and
OAUTHBEARER are not served)."""


class SaslAuthenticationError(Exception):
    """A failed SASL exchange. ``message`` is for the client, ``detail`` (if any) for the broker's log only."""

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


def invalid_credentials(mechanism: str, *, detail: str, reauthenticating: bool = False) -> SaslAuthenticationError:
    """The failure a client sees for anything a mechanism does not word for it (Kafka's text, which hides
    whether the user exists); ``detail`` says what really went wrong."""
    stage = "re-authentication" if reauthenticating else "authentication"
    return SaslAuthenticationError(
        f"Authentication failed during {stage} due to invalid credentials with SASL mechanism {mechanism}",
        detail=detail,
    )


class SaslServer(Protocol):
    """The server side of one SASL exchange on one connection (Kafka's ``javax.security.sasl.SaslServer``)."""

    @property
    def mechanism(self) -> str: ...

    @property
    def complete(self) -> bool:
        """True once the client has authenticated."""
        ...

    @property
    def authorization_id(self) -> str:
        """The authenticated user; RuntimeError before :attr:`complete`."""
        ...

    def evaluate(self, token: bytes) -> bytes:
        """The answer to the client's next token; SaslAuthenticationError if the exchange fails."""
        ...
