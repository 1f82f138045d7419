"""How this broker reaches the others: on the inter-broker listener (``inter.broker.listener.name``), with that
listener's security — TLS with the broker's client context (its keystore, when the listener wants client
certificates, and its truststore) and SASL with ``sasl.mechanism.inter.broker.protocol`` as the user of the
listener's JAAS entry for that mechanism (``username``/``password``), as Kafka's brokers do.

A broker that does not advertise the inter-broker listener cannot be reached: connecting to it is a
ConnectionError (a follower retries after its backoff)."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass

from kafka_broker import metadata as md
from kafka_broker.cluster.broker_connection import BrokerConnection, SaslClient
from kafka_broker.config import BrokerConfig, ConfigError
from kafka_broker.security.jaas import parse_jaas_config
from kafka_broker.security.plain import initial_response
from kafka_broker.security.sasl import PLAIN
from kafka_broker.security.scram import ScramClient
from kafka_broker.security.tls import client_context

__all__ = ["InterBrokerClient", "PlainClient"]


@dataclass(slots=True)
class PlainClient:
    """The client side of PLAIN: one token, done once the server answers."""

    username: str
    password: str
    complete: bool = False
    mechanism: str = PLAIN

    def first_message(self) -> bytes:
        self.complete = True
        return initial_response(username=self.username, password=self.password)

    def evaluate(self, challenge: bytes) -> bytes:
        return b""


def sasl_client_factory(mechanism: str, jaas: str, *, key: str) -> Callable[[], SaslClient]:
    """Makes the SASL client of ``mechanism`` for the user of the JAAS line ``jaas`` (ConfigError naming ``key``
    when it has no username and password)."""
    try:
        entry = parse_jaas_config(jaas)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    username, password = entry.username, entry.password
    if username is None or password is None:
        raise ConfigError(f"{key}: the broker's own username and password are required for inter-broker SASL")
    if mechanism == PLAIN:
        return lambda: PlainClient(username, password)
    return lambda: ScramClient(mechanism, username=username, password=password)


class InterBrokerClient:
    """Opens connections to other brokers (the replica fetcher's ``connect``)."""

    def __init__(self, config: BrokerConfig) -> None:
        listener = config.listeners.inter_broker_listener
        self.listener = listener.name
        self.tls: ssl.SSLContext | None = client_context(listener.settings) if listener.tls else None
        self.sasl: Callable[[], SaslClient] | None = None
        mechanism = config.listeners.inter_broker_mechanism
        if listener.sasl and mechanism is not None:
            key = f"listener.name.{listener.name.lower()}.{mechanism.lower()}.sasl.jaas.config"
            self.sasl = sasl_client_factory(mechanism, listener.jaas[mechanism], key=key)

    def __call__(self, registration: md.BrokerRegistration, config: BrokerConfig) -> BrokerConnection:
        address = registration.address(self.listener)
        if address is None or not address[0]:
            raise ConnectionError(f"broker {registration.broker_id} has no {self.listener} listener")
        return BrokerConnection(
            address[0], address[1], f"replica-fetcher-{config.broker_id}",
            receive_buffer=config.replication.replica_socket_receive_buffer_bytes, tls=self.tls, sasl=self.sasl)
