"""SCRAM users written straight into ZooKeeper before a cluster's brokers start (as Kafka's
``kafka-configs --zookeeper`` does), for ``cluster_factory(..., before_start=scram_users({...}))``: the brokers'
own inter-broker user must exist before they can replicate."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping

from kazoo.client import KazooClient

from kafka_broker.cluster.scram_credentials import BY_NAME, credential, salted_password

MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")


def scram_users(users: Mapping[str, str], mechanisms: Iterable[str] = MECHANISMS) -> Callable[[str], None]:
    """A ``before_start``: ``/config/users/<user>`` with a credential per mechanism for each user, in Kafka's format
    (4096 iterations, a random salt)."""

    def write(connect: str) -> None:
        client = KazooClient(hosts=connect)
        client.start(timeout=60)
        try:
            for user, password in users.items():
                config = {}
                for name in mechanisms:
                    mechanism, salt = BY_NAME[name], os.urandom(16)
                    salted = salted_password(mechanism, password, salt, 4096)
                    config[name] = credential(mechanism, salt=salt, salted=salted, iterations=4096).encode()
                client.create(f"/config/users/{user}", json.dumps({"version": 1, "config": config}).encode(),
                              makepath=True)
        finally:
            client.stop()
            client.close()

    return write
