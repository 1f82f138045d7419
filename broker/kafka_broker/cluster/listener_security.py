"""What one listener needs to secure its connections, made once at start from its settings
(:class:`~kafka_broker.config.listeners.ListenerConfig`), so a bad key store or JAAS line stops the broker with
a message naming the key before it accepts anyone:

- SSL and SASL_SSL: the server TLS context (:func:`kafka_broker.security.tls.server_context`) and a
  :class:`~kafka_broker.security.tls.TlsReloader` that picks up rotated key store and trust store files.
- SSL: the principal of a connection is its client certificate's mapped name (``ssl.principal.mapping.rules``),
  ``User:ANONYMOUS`` without one; a certificate no rule maps is refused at the handshake's end (the connection
  closes), as Kafka fails its authentication.
- SASL_PLAINTEXT and SASL_SSL: a new :class:`~kafka_broker.security.authenticator.Authenticator` per
  connection, with the listener's mechanisms; SCRAM users come from ``/config/users/<user>`` as the broker last
  saw it (``scram_config``), PLAIN users from the listener's ``PlainLoginModule`` JAAS entry.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kafka_broker.config import ConfigError
from kafka_broker.config.listeners import ListenerConfig
from kafka_broker.security.authenticator import Authenticator, CredentialSource
from kafka_broker.security.jaas import parse_jaas_config, plain_users
from kafka_broker.security.plain import PasswordCheck, users_check
from kafka_broker.security.principal import KafkaPrincipal
from kafka_broker.security.sasl import PLAIN
from kafka_broker.security.scram import ScramCredential
from kafka_broker.security.ssl_principal import SslPrincipalMapper, ssl_principal
from kafka_broker.security.tls import TlsReloader, server_context

__all__ = ["ListenerSecurity", "listener_security"]

log = logging.getLogger(__name__)

UserConfig = Callable[[str], Mapping[str, str]]
"""User name → the ``/config/users/<user>`` znode's config as last seen (empty when there is none)."""


@dataclass(frozen=True, slots=True)
class ListenerSecurity:
    ssl_context: ssl.SSLContext | None = None
    reloader: TlsReloader | None = None
    tls_principal: Callable[[Any], KafkaPrincipal] | None = None
    new_authenticator: Callable[[], Authenticator] | None = None


def _scram_lookup(user_config: UserConfig) -> Callable[[str, str], ScramCredential | None]:
    def lookup(mechanism: str, user: str) -> ScramCredential | None:
        stored = user_config(user).get(mechanism)
        if stored is None:
            return None
        try:
            return ScramCredential.decode(stored)
        except ValueError as exc:
            log.warning("ignoring the %s credential of user %r: %s", mechanism, user, exc)
            return None

    return lookup


def _plain_check(listener: ListenerConfig) -> PasswordCheck:
    key = f"listener.name.{listener.name.lower()}.plain.sasl.jaas.config"
    jaas = listener.jaas.get(PLAIN)
    if jaas is None:
        raise ConfigError(f"{key}: required when listener {listener.name} enables PLAIN (a PlainLoginModule with "
                          f'user_<name>="<password>" options)')
    try:
        return users_check(plain_users(parse_jaas_config(jaas)))
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def _no_plain(user: str, password: str) -> bool:
    return False


def listener_security(listener: ListenerConfig, *, user_config: UserConfig) -> ListenerSecurity:
    """The TLS context, principal builder and SASL authenticators of ``listener`` (ConfigError if its settings
    cannot be used)."""
    context = reloader = tls_principal = new_authenticator = None
    if listener.tls:
        context = server_context(listener.settings)
        reloader = TlsReloader(context, listener.settings)
        if not listener.sasl:
            try:
                mapper = SslPrincipalMapper.from_rules(listener.settings.get("ssl.principal.mapping.rules"))
            except ValueError as exc:
                raise ConfigError(f"ssl.principal.mapping.rules: {exc}") from None

            def tls_principal(ssl_object: Any) -> KafkaPrincipal:
                return ssl_principal(ssl_object, mapper)
    if listener.sasl:
        credentials = CredentialSource(scram=_scram_lookup(user_config),
                                       plain=_plain_check(listener) if PLAIN in listener.mechanisms else _no_plain)
        mechanisms = listener.mechanisms
        lifetime = int(listener.settings["connections.max.reauth.ms"])

        def new_authenticator() -> Authenticator:
            return Authenticator(mechanisms=mechanisms, credentials=credentials, session_lifetime_ms=lifetime)
    return ListenerSecurity(ssl_context=context, reloader=reloader, tls_principal=tls_principal,
                            new_authenticator=new_authenticator)
