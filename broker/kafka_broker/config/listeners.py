"""Listeners as Kafka configures them: names, security protocols, the inter-broker listener and the settings
each listener has of its own.

``listeners`` is a comma-separated list of ``NAME://host:port``; each name is a key of
``listener.security.protocol.map`` (``NAME:PROTOCOL,...``, by default each protocol's own name, so
``SSL://:9093`` is an SSL listener), whose protocol is PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
``advertised.listeners`` (default: ``listeners``) names, for some or all of those listeners, the address
clients are told; an unset or wildcard host advertises ``127.0.0.1`` (Kafka advertises the canonical host
name; kopfka's local clusters live on loopback). The brokers talk to each other on
``inter.broker.listener.name``, or else on the listener named after ``security.inter.broker.protocol``
(default PLAINTEXT); setting both is an error, as in Kafka.

A listener's own settings: every TLS and SASL key, and ``connections.max.reauth.ms``, may be given for one
listener with Kafka's prefix ``listener.name.<name in lower case>.`` (for ``sasl.jaas.config`` also per
mechanism: ``listener.name.<name>.<mechanism in lower case>.sasl.jaas.config``). :attr:`ListenerConfig.settings`
holds, for each such key, the prefixed value, else the broker-wide one, else the default of the key's row in
:data:`LISTENER_ROWS` — the one table of these keys, part of the broker's table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from .definition import ConfigDef, ConfigError, ConfigType

__all__ = [
    "LISTENER_ROWS",
    "SASL_MECHANISMS",
    "SECURITY_PROTOCOLS",
    "ListenerConfig",
    "Listeners",
    "default_listener",
    "parse_listeners",
]

_S, _I, _L, _LI, _P = ConfigType.STRING, ConfigType.INT, ConfigType.LONG, ConfigType.LIST, ConfigType.PASSWORD

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
"""The SASL mechanisms kopfka serves (Kafka also has GSSAPI and OAUTHBEARER)."""

_DEFAULT_MAP = "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"


def _mechanisms(value: tuple[str, ...]) -> str | None:
    unsupported = [m for m in value if m not in SASL_MECHANISMS]
    if unsupported:
        return (f"{', '.join(unsupported)} not supported: kopfka serves {', '.join(SASL_MECHANISMS)} "
                "(set sasl.enabled.mechanisms, or listener.name.<listener>.sasl.enabled.mechanisms)")
    return None


LISTENER_ROWS = [
    ConfigDef("listeners", _S, "PLAINTEXT://:9092",
              "Listener names and the addresses they listen on: NAME://host:port, comma-separated."),
    ConfigDef("advertised.listeners", _S, None,
              "The addresses clients are told, per listener name (default: listeners; an empty or wildcard host "
              "advertises 127.0.0.1)."),
    ConfigDef("listener.security.protocol.map", _S, _DEFAULT_MAP,
              "Security protocol of each listener name: NAME:PROTOCOL, comma-separated."),
    ConfigDef("inter.broker.listener.name", _S, None, "Listener brokers use to talk to each other."),
    ConfigDef("security.inter.broker.protocol", _S, "PLAINTEXT",
              "Security protocol between brokers when inter.broker.listener.name is not set.",
              choices=SECURITY_PROTOCOLS),
    ConfigDef("connection.failed.authentication.delay.ms", _I, "100",
              "Delay before closing a connection that failed authentication.", minimum=0),
    ConfigDef("connections.max.reauth.ms", _L, "0",
              "Longest SASL session before the client must authenticate again (0: no limit; KIP-368).", minimum=0),
    ConfigDef("kopfka.authentication.timeout.ms", _L, "30000",
              "A connection on a SASL listener that has not authenticated this long after it opened is closed; so is "
              "one on an SSL or SASL_SSL listener whose TLS handshake takes this long.",
              minimum=1),
    ConfigDef("ssl.cipher.suites", _LI, "", "TLS 1.2 cipher suites (Java or OpenSSL names; empty: the defaults)."),
    ConfigDef("ssl.client.auth", _S, "none", "Whether clients must present certificates.",
              choices=("none", "requested", "required")),
    ConfigDef("ssl.enabled.protocols", _LI, "TLSv1.2,TLSv1.3", "TLS protocols enabled."),
    ConfigDef("ssl.endpoint.identification.algorithm", _S, "https",
              "Host name verification of the peer by the broker's own client connections (https, or empty)."),
    ConfigDef("ssl.key.password", _P, None, "Password of the private key."),
    ConfigDef("ssl.keystore.certificate.chain", _P, None, "Certificate chain in PEM (ssl.keystore.type=PEM)."),
    ConfigDef("ssl.keystore.key", _P, None, "Private key in PEM (ssl.keystore.type=PEM)."),
    ConfigDef("ssl.keystore.location", _S, None, "Keystore file: PEM key and chain, or PKCS12."),
    ConfigDef("ssl.keystore.password", _P, None, "Keystore password."),
    ConfigDef("ssl.keystore.type", _S, "JKS", "Keystore format: PEM or PKCS12 (JKS is Java's own: not read)."),
    ConfigDef("ssl.principal.mapping.rules", _S, "DEFAULT",
              "Rules mapping a client certificate's distinguished name to a principal name."),
    ConfigDef("ssl.protocol", _S, "TLSv1.3", "TLS protocol of the SSL context."),
    ConfigDef("ssl.truststore.certificates", _P, None, "Trusted certificates in PEM (ssl.truststore.type=PEM)."),
    ConfigDef("ssl.truststore.location", _S, None, "Truststore file: PEM certificates, or PKCS12."),
    ConfigDef("ssl.truststore.password", _P, None, "Truststore password."),
    ConfigDef("ssl.truststore.type", _S, "JKS", "Truststore format: PEM or PKCS12."),
    ConfigDef("sasl.enabled.mechanisms", _LI, "GSSAPI",
              "SASL mechanisms enabled on SASL listeners: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512."),
    ConfigDef("sasl.jaas.config", _P, None,
              "JAAS login configuration of a SASL mechanism (users of PLAIN; the broker's own credentials)."),
    ConfigDef("sasl.mechanism.inter.broker.protocol", _S, "GSSAPI", "SASL mechanism between brokers."),
    ConfigDef("sasl.server.max.receive.size", _I, "524288",
              "Largest request accepted before authentication; a larger one closes the connection.", minimum=1),
]
"""The keys of listeners and their security, with Kafka's types and defaults."""

_ROWS = {row.name: row for row in LISTENER_ROWS}
PER_LISTENER_KEYS = tuple(name for name in _ROWS if name.startswith(("ssl.", "sasl.")) or name in (
    "connections.max.reauth.ms", "connection.failed.authentication.delay.ms", "kopfka.authentication.timeout.ms"))
"""Keys a listener may set for itself with ``listener.name.<name>.``."""

_LISTENER = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)://(\[[^\]]*\]|[^:]*):(\d+)$")


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    """One listener: where it listens, what it advertises, its security protocol and its own settings."""

    name: str
    """The listener name, upper case as Kafka normalises it (``PLAINTEXT``, ``INTERNAL``…)."""
    security_protocol: str
    host: str
    """The address to bind ('' for every address)."""
    port: int
    advertised_host: str
    advertised_port: int
    settings: Mapping[str, str] = field(default_factory=dict)
    """Each key of :data:`PER_LISTENER_KEYS` that has a value: prefixed, else broker-wide, else the default."""
    jaas: Mapping[str, str] = field(default_factory=dict)
    """``sasl.jaas.config`` by mechanism, for the mechanisms that have one."""

    @property
    def tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def mechanisms(self) -> tuple[str, ...]:
        """The SASL mechanisms this listener serves (none unless it is a SASL listener)."""
        if not self.sasl:
            return ()
        return tuple(m.strip() for m in self.settings.get("sasl.enabled.mechanisms", "").split(",") if m.strip())

    @property
    def advertised(self) -> str:
        """The ``endpoints`` entry of the broker's registration: ``NAME://host:port``."""
        host = f"[{self.advertised_host}]" if ":" in self.advertised_host else self.advertised_host
        return f"{self.name}://{host}:{self.advertised_port}"

    def __str__(self) -> str:
        return f"{self.name}://{self.host}:{self.port} ({self.security_protocol})"


@dataclass(frozen=True, slots=True)
class Listeners:
    """Every listener of a broker, and which one the brokers use between them."""

    all: tuple[ListenerConfig, ...]
    inter_broker: str
    """Name of the listener brokers use to talk to each other (it is in :attr:`all`)."""
    inter_broker_mechanism: str | None = None
    """The SASL mechanism brokers authenticate with (``sasl.mechanism.inter.broker.protocol``) when the
    inter-broker listener is a SASL one; the credentials are its JAAS ``username``/``password``."""

    def __getitem__(self, name: str) -> ListenerConfig:
        for listener in self.all:
            if listener.name == name:
                return listener
        raise KeyError(name)

    @property
    def inter_broker_listener(self) -> ListenerConfig:
        return self[self.inter_broker]

    @property
    def protocol_map(self) -> dict[str, str]:
        return {listener.name: listener.security_protocol for listener in self.all}


def _endpoints(key: str, value: str) -> list[tuple[str, str, int]]:
    endpoints: list[tuple[str, str, int]] = []
    for entry in filter(None, (e.strip() for e in value.split(","))):
        match = _LISTENER.match(entry)
        if match is None:
            raise ConfigError(f"{key}: expected NAME://host:port, got {entry!r}")
        name, host, port = match.groups()
        if not 0 <= int(port) <= 65535:
            raise ConfigError(f"{key}: port out of range: {port}")
        if any(name.upper() == seen for seen, _, _ in endpoints):
            raise ConfigError(f"{key}: each listener must have a different name, {name.upper()} is repeated")
        endpoints.append((name.upper(), host.strip("[]"), int(port)))
    if not endpoints:
        raise ConfigError(f"{key}: at least one listener is required")
    return endpoints


def _protocol_map(value: str) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for entry in filter(None, (e.strip() for e in value.split(","))):
        name, colon, protocol = entry.partition(":")
        if not colon or protocol.strip().upper() not in SECURITY_PROTOCOLS:
            raise ConfigError(f"listener.security.protocol.map: expected NAME:PROTOCOL with a protocol of "
                              f"{', '.join(SECURITY_PROTOCOLS)}, got {entry!r}")
        mapping[name.strip().upper()] = protocol.strip().upper()
    return mapping


def _value(props: Mapping[str, str], key: str) -> str | None:
    raw = props.get(key)
    return None if raw is None or raw.strip() == "" else raw.strip()


def _settings(props: Mapping[str, str], name: str) -> tuple[dict[str, str], dict[str, str]]:
    """A listener's own settings and its ``sasl.jaas.config`` per mechanism, each value checked against
    its row."""
    prefix = f"listener.name.{name.lower()}."
    settings: dict[str, str] = {}
    for key in PER_LISTENER_KEYS:
        row = _ROWS[key]
        where = prefix + key if prefix + key in props else key
        raw = props[where].strip() if where in props else None
        if raw is None or (raw == "" and row.type not in (_S, _LI, _P)):
            raw = row.default  # an empty text is a value ("ssl.endpoint.identification.algorithm=": no check)
        if raw:
            try:
                row.parse(raw)
            except ConfigError as exc:
                raise ConfigError(str(exc).replace(f"configuration {key}", f"configuration {where}")) from None
        if raw is not None:
            settings[key] = raw
    jaas: dict[str, str] = {}
    for mechanism in SASL_MECHANISMS:
        value = _value(props, f"{prefix}{mechanism.lower()}.sasl.jaas.config") or settings.get("sasl.jaas.config")
        if value:
            jaas[mechanism] = value
    return settings, jaas


def default_listener() -> ListenerConfig:
    """The listener of a broker configured with no listener keys: ``PLAINTEXT://:9092``."""
    return parse_listeners({}).all[0]


def parse_listeners(props: Mapping[str, str]) -> Listeners:
    """Kafka's listener keys in ``props``, checked as Kafka checks them at start."""
    protocols = _protocol_map(_value(props, "listener.security.protocol.map") or _DEFAULT_MAP)
    bound = _endpoints("listeners", _value(props, "listeners") or str(_ROWS["listeners"].default))
    advertised_raw = _value(props, "advertised.listeners")
    advertised = {name: (host, port) for name, host, port in
                  (_endpoints("advertised.listeners", advertised_raw) if advertised_raw else bound)}
    names = [name for name, _, _ in bound]
    unknown = sorted(set(advertised) - set(names))
    if unknown:
        raise ConfigError(f"advertised.listeners listener names must be equal to or a subset of the ones defined in "
                          f"listeners. Found {','.join(unknown)}. The valid options based on the current "
                          f"configuration are {','.join(names)}")
    listeners = []
    for name, host, port in bound:
        protocol = protocols.get(name)
        if protocol is None:
            raise ConfigError(f"listener.security.protocol.map: no security protocol defined for listener {name} "
                              f"(add {name}:PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)")
        adv_host, adv_port = advertised.get(name, (host, port))
        if adv_host in ("", "0.0.0.0", "::"):
            adv_host = "127.0.0.1" if not host or host in ("0.0.0.0", "::") else host
        settings, jaas = _settings(props, name)
        listener = ListenerConfig(name=name, security_protocol=protocol, host=host, port=port,
                                  advertised_host=adv_host, advertised_port=adv_port, settings=settings, jaas=jaas)
        if listener.sasl and not listener.mechanisms:
            raise ConfigError(f"sasl.enabled.mechanisms: listener {name} ({protocol}) needs at least one mechanism")
        problem = _mechanisms(listener.mechanisms)
        if problem:
            raise ConfigError(f"sasl.enabled.mechanisms of listener {name}: {problem}")
        listeners.append(listener)
    inter_name = _value(props, "inter.broker.listener.name")
    if inter_name is not None and _value(props, "security.inter.broker.protocol") is not None:
        raise ConfigError("Only one of inter.broker.listener.name and security.inter.broker.protocol should be set.")
    inter = (inter_name or _value(props, "security.inter.broker.protocol") or "PLAINTEXT").upper()
    if inter not in advertised:
        raise ConfigError(f"inter.broker.listener.name must be a listener name defined in advertised.listeners. "
                          f"The valid options based on currently configured listeners are {','.join(names)}")
    result = Listeners(all=tuple(listeners), inter_broker=inter)
    broker_side = result.inter_broker_listener
    mechanism = None
    if broker_side.sasl:
        mechanism = _value(props, "sasl.mechanism.inter.broker.protocol") or str(
            _ROWS["sasl.mechanism.inter.broker.protocol"].default)
        if mechanism not in broker_side.mechanisms:
            raise ConfigError(f"sasl.mechanism.inter.broker.protocol: {mechanism} must be included in "
                              f"sasl.enabled.mechanisms of listener {inter} when SASL is used for inter-broker "
                              f"communication ({', '.join(broker_side.mechanisms)})")
        if mechanism not in broker_side.jaas:
            raise ConfigError(f"listener.name.{inter.lower()}.{mechanism.lower()}.sasl.jaas.config: required for "
                              f"inter-broker SASL: the broker's own username and password")
    return Listeners(all=result.all, inter_broker=inter, inter_broker_mechanism=mechanism)
