"""SCRAM credentials as the cluster layer's admin APIs use them (:mod:`kafka_broker.cluster.scram_admin`).

They live with the SASL/SCRAM mechanism in :mod:`kafka_broker.security.scram` (the layer below), which derives
them from a salted password and stores them in Kafka's form; this module keeps the names the cluster layer
imports.
"""

from __future__ import annotations

from kafka_broker.security.scram import (
    BY_NAME,
    BY_TYPE,
    MECHANISMS,
    SCRAM_SHA_256,
    SCRAM_SHA_512,
    ScramCredential,
    ScramMechanism,
    client_key,
    credential,
    hmac_of,
    salted_password,
    server_key,
    stored_key,
)

__all__ = [
    "BY_NAME",
    "BY_TYPE",
    "MECHANISMS",
    "SCRAM_SHA_256",
    "SCRAM_SHA_512",
    "ScramCredential",
    "ScramMechanism",
    "client_key",
    "credential",
    "hmac_of",
    "salted_password",
    "server_key",
    "stored_key",
]
