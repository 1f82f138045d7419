"""One connection's SASL exchange on a SASL listener, as Kafka's ``SaslServerAuthenticator`` runs it.

The connection (:mod:`kafka_broker.server`) hands it the SaslHandshake and SaslAuthenticate requests (or, after
SaslHandshake v0, the bare tokens) in the order they arrive, and nothing else before it is :attr:`complete`:

1. **Handshake**: the client names a mechanism. One this listener does not enable is answered
   UNSUPPORTED_SASL_MECHANISM with the enabled ones, and the connection closes.
2. **Authenticate**: each token goes to the mechanism's server (:mod:`.plain`, :mod:`.scram`), whose answer is
   the next token. A failure is SASL_AUTHENTICATION_FAILED with the mechanism's message (the connection
   closes after ``connection.failed.authentication.delay.ms``). When the mechanism completes, the principal is
   ``User:<authorization id>``.
3. **Re-authentication** (KIP-368, when ``connections.max.reauth.ms`` is set): the session lasts that long
   (``session_lifetime_ms`` in the last SaslAuthenticate answer); the client authenticates again on the same
   connection, with the same mechanism, as the same principal, or the connection closes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kafka_broker.protocol.errors import ErrorCode
from kafka_broker.security.plain import PasswordCheck, PlainServer
from kafka_broker.security.principal import KafkaPrincipal
from kafka_broker.security.sasl import PLAIN, SaslAuthenticationError, SaslServer
from kafka_broker.security.scram import ScramCredential, ScramServer

__all__ = ["AuthStep", "Authenticator", "CredentialSource"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AuthStep:
    """What one SaslAuthenticate (or bare token) is answered with."""

    error_code: int = ErrorCode.NONE
    error_message: str | None = None
    token: bytes = b""


@dataclass(frozen=True, slots=True)
class CredentialSource:
    """Where a listener's mechanisms find their users."""

    scram: Callable[[str, str], ScramCredential | None]
    """(mechanism, user name) → the user's stored SCRAM credential (``/config/users/<user>``), or None."""
    plain: PasswordCheck
    """(user name, password) → whether PLAIN accepts them (the listener's JAAS ``user_<name>`` options)."""


class Authenticator:
    """The SASL state of one connection: which mechanism, whether done, as whom."""

    __slots__ = (
        "_credentials",
        "_mechanisms",
        "_server",
        "complete",
        "mechanism",
        "previous_principal",
        "principal",
        "session_lifetime_ms",
    )

    def __init__(self, *, mechanisms: Sequence[str], credentials: CredentialSource, session_lifetime_ms: int) -> None:
        self._mechanisms = list(mechanisms)
        self._credentials = credentials
        self._server: SaslServer | None = None
        self.mechanism: str | None = None
        self.complete = False
        self.principal: KafkaPrincipal | None = None
        self.previous_principal: KafkaPrincipal | None = None
        self.session_lifetime_ms = session_lifetime_ms
        """``connections.max.reauth.ms`` of the listener: how long a session lasts (0: for ever)."""

    def handshake(self, mechanism: str, *, previous: Authenticator | None = None) -> tuple[int, list[str]]:
        """(error code, the enabled mechanisms) answering a SaslHandshake for ``mechanism``. ``previous`` is the
        connection's completed exchange when this one re-authenticates it."""
        if mechanism not in self._mechanisms:
            return ErrorCode.UNSUPPORTED_SASL_MECHANISM, list(self._mechanisms)
        if previous is not None:
            if previous.mechanism != mechanism:
                return ErrorCode.ILLEGAL_SASL_STATE, list(self._mechanisms)
            self.previous_principal = previous.principal
        self.mechanism = mechanism
        if mechanism == PLAIN:
            self._server = PlainServer(self._credentials.plain)
        else:
            self._server = ScramServer(mechanism, lambda user: self._credentials.scram(mechanism, user),
                                       reauthenticating=previous is not None)
        return ErrorCode.NONE, list(self._mechanisms)

    def authenticate(self, token: bytes) -> AuthStep:
        """The answer to the client's next token."""
        server = self._server
        if server is None or self.complete:
            return AuthStep(ErrorCode.ILLEGAL_SASL_STATE, "Unexpected SASL token")
        try:
            answer = server.evaluate(token)
        except SaslAuthenticationError as exc:
            if exc.detail:
                # %.300r: a detail may quote the client's token (up to sasl.server.max.receive.size of anything,
                # line breaks too): the log gets its start, escaped
                log.info("SASL %s authentication failed: %.300r", self.mechanism, exc.detail)
            return AuthStep(ErrorCode.SASL_AUTHENTICATION_FAILED, exc.message)
        if server.complete:
            principal = KafkaPrincipal.user(server.authorization_id)
            if self.previous_principal is not None and principal != self.previous_principal:
                return AuthStep(ErrorCode.SASL_AUTHENTICATION_FAILED,
                                f"Cannot change principals during re-authentication from {self.previous_principal}: "
                                f"{principal}")
            self.principal = principal
            self.complete = True
        return AuthStep(token=answer)
