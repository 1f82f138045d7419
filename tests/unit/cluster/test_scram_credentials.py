"""SCRAM credentials: the RFC 5802 derivation checked against credentials Apache Kafka 3.9 wrote to ZooKeeper
(``kafka-configs --alter --add-config 'SCRAM-SHA-512=[iterations=8192,password=alice-secret]'`` and
``'SCRAM-SHA-256=[password=x]'``), and Kafka's stored form both ways."""

from __future__ import annotations

import base64

import pytest

from kafka_broker.cluster.scram_credentials import (
    BY_NAME,
    BY_TYPE,
    SCRAM_SHA_256,
    SCRAM_SHA_512,
    ScramCredential,
    credential,
    salted_password,
)

# as Kafka 3.9 stored them in /config/users/alice
KAFKA_SHA_512 = ("salt=bGk2bmt2cjB0bmpudDh4NzM3aDd5aWs3Ng==,stored_key=0XA3qsO7NbA3o71kwgFCXDUDFSRGv0nT3iJksBiiqJr4AM4b"
                 "lw6GK0+0kCM9RgHNXnINoGRl7To0rYAME2ONwQ==,server_key=3WA/PX+EiH/psBZn/Ab3fNR1WJ234bQUIq+EKz4wQVt152Xn"
                 "p14sqI33TAWtJ0G6Sb1NVyVIKElV3UjC+PvV0A==,iterations=8192")
KAFKA_SHA_256 = ("salt=MTEzZ29wMDhkYmJxeWt0azZ4a2Q1b3J5OHU=,stored_key=kTgwFv9VC9OWAen385FEstPdkzlLzj8B6FE/GKJxJg0=,"
                 "server_key=oHhUNsiQdIsKPgNSRbMxA9EDQ7yjkI2OMdaMJKYChXo=,iterations=4096")


@pytest.mark.parametrize(("mechanism", "stored", "password"), [
    (SCRAM_SHA_512, KAFKA_SHA_512, "alice-secret"),
    (SCRAM_SHA_256, KAFKA_SHA_256, "x"),
])
def test_derivation_matches_what_kafka_stored(mechanism, stored: str, password: str) -> None:
    kafka = ScramCredential.decode(stored)
    salted = salted_password(mechanism, password, kafka.salt, kafka.iterations)
    ours = credential(mechanism, salt=kafka.salt, salted=salted, iterations=kafka.iterations)
    assert ours == kafka
    assert ours.encode() == stored


def test_mechanisms_as_kafka_numbers_them() -> None:
    assert BY_TYPE == {1: SCRAM_SHA_256, 2: SCRAM_SHA_512}
    assert BY_NAME["SCRAM-SHA-512"] is SCRAM_SHA_512
    assert (SCRAM_SHA_256.min_iterations, SCRAM_SHA_512.min_iterations) == (4096, 4096)


def test_encoding_is_kafkas() -> None:
    c = ScramCredential(b"salt", b"stored", b"server", 4096)
    assert c.encode() == (f"salt={base64.b64encode(b'salt').decode()},stored_key=c3RvcmVk,"
                          "server_key=c2VydmVy,iterations=4096")
    assert ScramCredential.decode(c.encode()) == c


@pytest.mark.parametrize("text", [
    "", "salt=c2FsdA==", "salt=c2FsdA==,stored_key=c3RvcmVk,server_key=c2VydmVy",
    "salt=c2FsdA==,stored_key=c3RvcmVk,server_key=c2VydmVy,iterations=many",
    "salt=!!,stored_key=c3RvcmVk,server_key=c2VydmVy,iterations=4096",
    "salt=c2FsdA==,stored_key=c3RvcmVk,server_key=c2VydmVy,iterations=4096,extra=1",
    "=x,stored_key=c3RvcmVk,server_key=c2VydmVy,iterations=4096",
])
def test_a_malformed_credential_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="Credentials not valid"):
        ScramCredential.decode(text)
