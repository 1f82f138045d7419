"""A Kafka client properties file (`--command-config`, `--producer.config`, `--consumer.config`), as Kafka's
Java tools read it, turned into the settings of the clients the commands use: librdkafka's (confluent-kafka)
and the broker's own connection (:class:`~kafka_broker.cluster.broker_connection.BrokerConnection`).

Read: `security.protocol`; `sasl.mechanism` with the user of `sasl.jaas.config` (a ``PlainLoginModule`` or
``ScramLoginModule`` line's `username` and `password`); PEM trust and key stores
(`ssl.truststore.location`/`ssl.truststore.certificates`, `ssl.keystore.location`/`ssl.keystore.key` +
`ssl.keystore.certificate.chain`, `ssl.key.password`) and `ssl.endpoint.identification.algorithm` (empty: no
host name check). Other keys pass to librdkafka unchanged when it knows them under the same name (e.g.
`client.id`, `request.timeout.ms`). JKS and PKCS12 stores are refused with a message: convert them to PEM.
"""

from __future__ import annotations

import ssl
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from kafka_broker.cluster.broker_connection import SaslClient
from kafka_broker.cluster.inter_broker import sasl_client_factory
from kafka_broker.config.properties import parse_properties
from kafka_broker.security.jaas import parse_jaas_config

__all__ = ["ClientPropertiesError", "ClientSecurity", "librdkafka_settings", "read_client_properties"]

_SECURITY_KEYS = frozenset({
    "security.protocol", "sasl.mechanism", "sasl.jaas.config", "ssl.truststore.location", "ssl.truststore.type",
    "ssl.truststore.certificates", "ssl.truststore.password", "ssl.keystore.location", "ssl.keystore.type",
    "ssl.keystore.key", "ssl.keystore.certificate.chain", "ssl.keystore.password", "ssl.key.password",
    "ssl.endpoint.identification.algorithm"})
_PASSED_THROUGH = frozenset({"client.id", "request.timeout.ms", "metadata.max.age.ms", "socket.timeout.ms",
                             "ssl.cipher.suites"})


class ClientPropertiesError(ValueError):
    """A properties file the commands cannot use; the message names the key."""


def read_client_properties(path: str | Path | None) -> dict[str, str]:
    if path is None:
        return {}
    try:
        return parse_properties(Path(path).read_text())
    except OSError as exc:
        raise ClientPropertiesError(f"cannot read {path}: {exc.strerror}") from None


def _pem_only(props: Mapping[str, str], kind: str) -> None:
    store_type = props.get(f"ssl.{kind}.type", "PEM" if f"ssl.{kind}.location" not in props else "JKS").upper()
    if f"ssl.{kind}.location" in props and store_type != "PEM":
        raise ClientPropertiesError(f"ssl.{kind}.type={store_type}: kopfka's commands read PEM stores only "
                                    f"(convert with openssl, and set ssl.{kind}.type=PEM)")


def _credentials(props: Mapping[str, str]) -> tuple[str, str]:
    jaas = props.get("sasl.jaas.config")
    if jaas is None:
        raise ClientPropertiesError("sasl.jaas.config: required with a SASL security.protocol (the user's "
                                    "username and password)")
    try:
        entry = parse_jaas_config(jaas)
    except ValueError as exc:
        raise ClientPropertiesError(f"sasl.jaas.config: {exc}") from None
    if entry.username is None or entry.password is None:
        raise ClientPropertiesError("sasl.jaas.config: needs username and password")
    return entry.username, entry.password


_KEPT: list[tempfile._TemporaryFileWrapper[str]] = []
"""The temporary files of inline stores, open (and so kept) while the command runs."""


def _inline(text: str, suffix: str) -> str:
    """A private temporary file holding ``text`` (librdkafka reads stores from files only)."""
    handle = tempfile.NamedTemporaryFile("w", suffix=suffix, prefix="kopfka-")  # noqa: SIM115 (kept open)
    handle.write(text)
    handle.flush()
    _KEPT.append(handle)
    return handle.name


def librdkafka_settings(props: Mapping[str, str]) -> dict[str, str]:
    """The librdkafka settings of a Kafka client properties file."""
    settings = {key: value for key, value in props.items() if key in _PASSED_THROUGH}
    protocol = props.get("security.protocol", "PLAINTEXT").upper()
    settings["security.protocol"] = protocol
    if protocol.startswith("SASL_"):
        settings["sasl.mechanism"] = props.get("sasl.mechanism", "GSSAPI")
        settings["sasl.username"], settings["sasl.password"] = _credentials(props)
    if protocol in ("SSL", "SASL_SSL"):
        _pem_only(props, "truststore")
        _pem_only(props, "keystore")
        if "ssl.truststore.location" in props:
            settings["ssl.ca.location"] = props["ssl.truststore.location"]
        elif "ssl.truststore.certificates" in props:
            settings["ssl.ca.location"] = _inline(props["ssl.truststore.certificates"], ".pem")
        if "ssl.keystore.location" in props:
            settings["ssl.certificate.location"] = settings["ssl.key.location"] = props["ssl.keystore.location"]
        elif "ssl.keystore.key" in props:
            settings["ssl.key.location"] = _inline(props["ssl.keystore.key"], ".key")
            settings["ssl.certificate.location"] = _inline(props.get("ssl.keystore.certificate.chain", ""), ".pem")
        if "ssl.key.password" in props:
            settings["ssl.key.password"] = props["ssl.key.password"]
        if props.get("ssl.endpoint.identification.algorithm", "https").strip() == "":
            settings["ssl.endpoint.identification.algorithm"] = "none"
    return settings


class ClientSecurity:
    """TLS and SASL for the broker's own connection class, from a client properties file."""

    def __init__(self, props: Mapping[str, str]) -> None:
        protocol = props.get("security.protocol", "PLAINTEXT").upper()
        self.tls: ssl.SSLContext | None = None
        self.sasl: Callable[[], SaslClient] | None = None
        if protocol in ("SSL", "SASL_SSL"):
            settings = librdkafka_settings(props)
            context = ssl.create_default_context(cafile=settings.get("ssl.ca.location"))
            if "ssl.certificate.location" in settings:
                context.load_cert_chain(settings["ssl.certificate.location"], settings.get("ssl.key.location"),
                                        settings.get("ssl.key.password"))
            context.check_hostname = settings.get("ssl.endpoint.identification.algorithm") != "none"
            self.tls = context
        if protocol.startswith("SASL_"):
            self.sasl = sasl_client_factory(props.get("sasl.mechanism", "GSSAPI"), props["sasl.jaas.config"],
                                            key="sasl.jaas.config")
