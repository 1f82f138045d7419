"""A secured 3-broker cluster with Kafka's ACL authorizer on, and every real client: SASL_SSL with SCRAM-SHA-512
(the brokers replicate over it too, as the super user ``admin``), mutual TLS, SASL_PLAINTEXT with PLAIN and with
SCRAM-SHA-256; each client's principal may use the ``sec-`` topics and every group, and nothing else; wrong
passwords, unknown mechanisms and unauthenticated requests refused as Kafka refuses them; the ISR intact after a
leader is killed; a rotated certificate served without a restart.

Listeners of each broker: ``INTERNAL`` (SASL_SSL; SCRAM-SHA-512 and SCRAM-SHA-256; the inter-broker listener,
the brokers authenticating as ``admin``), ``EXTERNAL`` (SSL, client certificates required) and ``PLAINSASL``
(SASL_PLAINTEXT; PLAIN users from its JAAS line, SCRAM too; sessions of 4 s: re-authentication, KIP-368). The
SCRAM users are written to ZooKeeper before the brokers start, as Kafka's ``kafka-configs --zookeeper`` does.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import struct
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from tests.brokers import BrokersAlive
from tests.certs import CertificateAuthority
from tests.scram_users import scram_users
from tests.waiting import wait_for

from kafka_broker.local.cluster import LocalCluster, free_port
from kafka_broker.protocol import ApiKey, ErrorCode, decode_response, encode_request

pytestmark = pytest.mark.integration

USERS = {"admin": "admin-secret", "alice": "alice-secret"}
PLAIN_USERS = {"bob": "bob-secret"}
REAUTH_MS = 4000
SCRAM_JAAS = ('org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" '
              'password="admin-secret";')
PLAIN_JAAS = ("org.apache.kafka.common.security.plain.PlainLoginModule required "
              + " ".join(f'user_{u}="{p}"' for u, p in PLAIN_USERS.items()) + ";")


@dataclass
class Secured:
    cluster: LocalCluster
    dir: Path
    ca: CertificateAuthority
    ports: dict[str, dict[int, int]]
    """Listener name → broker id → port."""

    def bootstrap(self, listener: str) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.ports[listener].values())

    @property
    def ca_file(self) -> str:
        return str(self.dir / "ca.pem")

    @property
    def client_file(self) -> str:
        return str(self.dir / "alice-client.pem")


write_scram_users = scram_users(USERS)


@pytest.fixture(scope="module")
def secured(module_cluster_factory, tmp_path_factory) -> Secured:
    folder = tmp_path_factory.mktemp("tls")
    ca = CertificateAuthority()
    ca.write_pem(folder / "ca.pem")
    ca.server(dns=["localhost"], ips=["127.0.0.1"]).write_pem(folder / "broker.pem")
    ca.client("CN=alice,OU=eng,O=acme").write_pem(folder / "alice-client.pem")
    ports = {name: {i: free_port("127.0.0.1") for i in (1, 2, 3)} for name in ("INTERNAL", "EXTERNAL", "PLAINSASL")}
    overrides = {
        "listener.security.protocol.map": "INTERNAL:SASL_SSL,EXTERNAL:SSL,PLAINSASL:SASL_PLAINTEXT",
        "inter.broker.listener.name": "INTERNAL",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "listener.name.internal.sasl.enabled.mechanisms": "SCRAM-SHA-512,SCRAM-SHA-256",
        "listener.name.internal.scram-sha-512.sasl.jaas.config": SCRAM_JAAS,
        "listener.name.plainsasl.sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256",
        "listener.name.plainsasl.plain.sasl.jaas.config": PLAIN_JAAS,
        "listener.name.plainsasl.connections.max.reauth.ms": str(REAUTH_MS),
        "listener.name.external.ssl.client.auth": "required",
        "ssl.keystore.type": "PEM", "ssl.keystore.location": str(folder / "broker.pem"),
        "ssl.truststore.type": "PEM", "ssl.truststore.location": str(folder / "ca.pem"),
        "kopfka.authentication.timeout.ms": "3000",
        "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
        "super.users": "User:admin",
    }
    per_broker = {}
    for i in (1, 2, 3):
        listeners = ",".join(f"{name}://127.0.0.1:{ports[name][i]}" for name in ports)
        per_broker[i] = {"listeners": listeners, "advertised.listeners": listeners}
    cluster = module_cluster_factory(brokers=3, overrides=overrides, per_broker_overrides=per_broker,
                                     before_start=write_scram_users)
    secured = Secured(cluster, folder, ca, ports)
    grant_clients(secured)
    return secured


CLIENT_PRINCIPALS = ("User:alice", "User:bob", "User:CN=alice,OU=eng,O=acme")
"""The principals of the clients: SCRAM and PLAIN users, and the client certificate's subject (DEFAULT rule)."""


def grant_clients(secured: Secured) -> None:
    """As ``admin`` (a super user): every client principal may do anything with the ``sec-`` topics and with
    every group; on every broker before the tests start."""
    from confluent_kafka.admin import (
        AclBinding,
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    bindings = [AclBinding(kind, name, pattern, principal, "*", AclOperation.ALL, AclPermissionType.ALLOW)
                for principal in CLIENT_PRINCIPALS
                for kind, name, pattern in ((ResourceType.TOPIC, "sec-", ResourcePatternType.PREFIXED),
                                            (ResourceType.GROUP, "*", ResourcePatternType.LITERAL))]
    client = admin(secured)
    for future in client.create_acls(bindings).values():
        future.result(60)
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                                  AclPermissionType.ANY)
    for broker_id, port in secured.ports["INTERNAL"].items():
        on_broker = AdminClient({**librdkafka_config(secured, "scram-512-over-tls", user="admin"),
                                 "bootstrap.servers": f"127.0.0.1:{port}"})
        wait_for(lambda c=on_broker: len(c.describe_acls(everything).result(30)) == len(bindings), timeout=60,
                 what=f"the ACLs on broker {broker_id}")


# --- one configuration per client and way in ------------------------------------------------------------------

MODES = ["scram-512-over-tls", "mutual-tls", "plain", "scram-256"]


def librdkafka_config(secured: Secured, mode: str, *, user: str = "alice") -> dict[str, str]:
    """librdkafka's settings (confluent-kafka and kcat)."""
    if mode == "mutual-tls":
        return {"bootstrap.servers": secured.bootstrap("EXTERNAL"), "security.protocol": "SSL",
                "ssl.ca.location": secured.ca_file, "ssl.certificate.location": secured.client_file,
                "ssl.key.location": secured.client_file}
    if mode == "scram-512-over-tls":
        return {"bootstrap.servers": secured.bootstrap("INTERNAL"), "security.protocol": "SASL_SSL",
                "ssl.ca.location": secured.ca_file, "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": user, "sasl.password": USERS[user]}
    mechanism, user, password = ("PLAIN", "bob", PLAIN_USERS["bob"]) if mode == "plain" else \
        ("SCRAM-SHA-256", "alice", USERS["alice"])
    return {"bootstrap.servers": secured.bootstrap("PLAINSASL"), "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password}


def python_config(secured: Secured, mode: str) -> dict[str, object]:
    """kafka-python's and aiokafka's settings (the same names)."""
    rd = librdkafka_config(secured, mode)
    config: dict[str, object] = {"bootstrap_servers": rd["bootstrap.servers"],
                                 "security_protocol": rd["security.protocol"]}
    if "sasl.mechanism" in rd:
        config.update(sasl_mechanism=rd["sasl.mechanism"], sasl_plain_username=rd["sasl.username"],
                      sasl_plain_password=rd["sasl.password"])
    return config


def tls_context(secured: Secured, mode: str) -> ssl.SSLContext | None:
    if mode not in ("mutual-tls", "scram-512-over-tls"):
        return None
    context = ssl.create_default_context(cafile=secured.ca_file)
    if mode == "mutual-tls":
        context.load_cert_chain(secured.client_file)
    return context


def round_trip_confluent(secured: Secured, mode: str, topic: str, values: list[bytes]) -> list[bytes]:
    from confluent_kafka import Consumer

    config = librdkafka_config(secured, mode)
    producer = Producer({**config, "acks": "all"})
    for value in values:
        producer.produce(topic, value=value, partition=0)
    assert producer.flush(60) == 0
    consumer = Consumer({**config, "group.id": f"g-{uuid.uuid4().hex[:6]}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got: list[bytes] = []
    try:
        deadline = time.monotonic() + 90
        while len(got) < len(values) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                got.append(message.value())
    finally:
        consumer.close()
    return got


def round_trip_kafka_python(secured: Secured, mode: str, topic: str, values: list[bytes]) -> list[bytes]:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    config = python_config(secured, mode)
    context = tls_context(secured, mode)
    if context is not None:
        config["ssl_context"] = context
    producer = KafkaProducer(acks="all", **config)
    futures = [producer.send(topic, value=value, partition=0) for value in values]
    producer.flush(60)
    for future in futures:
        future.get(timeout=60)
    producer.close(timeout=30)
    consumer = KafkaConsumer(auto_offset_reset="earliest", enable_auto_commit=False, **config)
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    got: list[bytes] = []
    deadline = time.monotonic() + 90
    try:
        while len(got) < len(values) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got.extend(r.value for r in records)
    finally:
        consumer.close()
    return got


def round_trip_aiokafka(secured: Secured, mode: str, topic: str, values: list[bytes]) -> list[bytes]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    async def run() -> list[bytes]:
        config = python_config(secured, mode)
        context = tls_context(secured, mode)
        if context is not None:
            config["ssl_context"] = context
        producer = AIOKafkaProducer(acks="all", **config)
        await producer.start()
        try:
            for value in values:
                await producer.send_and_wait(topic, value=value, partition=0)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(auto_offset_reset="earliest", enable_auto_commit=False, **config)
        await consumer.start()
        got: list[bytes] = []
        try:
            consumer.assign([TopicPartition(topic, 0)])
            await consumer.seek_to_beginning()
            deadline = time.monotonic() + 90
            while len(got) < len(values) and time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    got.extend(r.value for r in records)
        finally:
            await consumer.stop()
        return got

    return asyncio.run(run())


def round_trip_kcat(secured: Secured, mode: str, topic: str, values: list[bytes]) -> list[bytes]:
    kcat = shutil.which("kcat") or "kcat"
    config = librdkafka_config(secured, mode)
    options = [arg for key, value in config.items() if key != "bootstrap.servers" for arg in ("-X", f"{key}={value}")]
    bootstrap = config["bootstrap.servers"]
    subprocess.run([kcat, "-b", bootstrap, "-P", "-t", topic, "-p", "0", "-X", "acks=all", *options],
                   input=b"".join(v + b"\n" for v in values), check=True, timeout=120, capture_output=True)
    out = subprocess.run([kcat, "-b", bootstrap, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e",
                          "-c", str(len(values)), *options], check=True, timeout=120, capture_output=True)
    return out.stdout.splitlines()


ROUND_TRIPS = {"confluent-kafka": round_trip_confluent, "kafka-python": round_trip_kafka_python,
               "aiokafka": round_trip_aiokafka, "kcat": round_trip_kcat}


def admin(secured: Secured) -> AdminClient:
    """The super user's admin client."""
    return AdminClient(librdkafka_config(secured, "scram-512-over-tls", user="admin"))


def create_topic(secured: Secured, topic: str, partitions: int = 1) -> None:
    from confluent_kafka import KafkaError

    client = admin(secured)  # kept alive until the futures are done
    for future in client.create_topics([NewTopic(topic, partitions, 3)]).values():
        try:
            future.result(60)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise

    def replicated() -> bool:
        described = admin(secured).list_topics(topic, timeout=10).topics[topic]
        return len(described.partitions) == partitions and all(
            p.leader >= 0 and len(p.isrs) == 3 for p in described.partitions.values())

    wait_for(replicated, timeout=120, what=f"{topic} fully replicated", alive=[BrokersAlive(secured.cluster)])


# --- tests ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("client", list(ROUND_TRIPS))
def test_every_client_produces_and_consumes_on_every_secured_listener(secured: Secured, client: str,
                                                                       mode: str) -> None:
    topic = f"sec-{client}-{mode}"
    create_topic(secured, topic)
    values = [f"{client}/{mode}/{i}".encode() for i in range(20)]
    assert ROUND_TRIPS[client](secured, mode, topic, values) == values


def test_each_listener_answers_with_its_own_addresses(secured: Secured) -> None:
    for mode, listener in (("scram-512-over-tls", "INTERNAL"), ("mutual-tls", "EXTERNAL"), ("plain", "PLAINSASL")):
        brokers = AdminClient(librdkafka_config(secured, mode)).list_topics(timeout=30).brokers
        assert {b.id: b.port for b in brokers.values()} == secured.ports[listener]


def _frame(sock: socket.socket) -> bytes:
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    (size,) = struct.unpack(">i", exactly(4))
    return exactly(size)


def _closed(sock: socket.socket) -> bool:
    sock.settimeout(30)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def _call(sock: socket.socket, api: int, version: int, body: dict) -> dict:
    sock.sendall(encode_request(api, version, 7, "raw", body))
    return decode_response(api, version, _frame(sock))[1]


def _plainsasl(secured: Secured) -> socket.socket:
    return socket.create_connection(("127.0.0.1", secured.ports["PLAINSASL"][1]), timeout=30)


def test_a_wrong_password_is_sasl_authentication_failed_and_the_connection_closes(secured: Secured) -> None:
    with _plainsasl(secured) as sock:
        assert _call(sock, ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"})["error_code"] == ErrorCode.NONE
        started = time.monotonic()
        answer = _call(sock, ApiKey.SASL_AUTHENTICATE, 2, {"auth_bytes": b"\0bob\0guess"})
        assert time.monotonic() - started >= 0.09  # connection.failed.authentication.delay.ms (100 ms)
        assert answer["error_code"] == ErrorCode.SASL_AUTHENTICATION_FAILED
        assert answer["error_message"] == "Authentication failed: Invalid username or password"
        assert _closed(sock)
    producer = Producer({**librdkafka_config(secured, "scram-512-over-tls"), "sasl.password": "wrong",
                         "message.timeout.ms": 5000})
    failures: list[str] = []
    producer.produce("sec-wrong", b"x", on_delivery=lambda err, _m: failures.append(str(err)))
    producer.flush(30)
    assert len(failures) == 1


def test_an_unknown_mechanism_is_refused_with_the_enabled_ones(secured: Secured) -> None:
    with _plainsasl(secured) as sock:
        answer = _call(sock, ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "GSSAPI"})
        assert answer == {"error_code": ErrorCode.UNSUPPORTED_SASL_MECHANISM, "mechanisms": ["PLAIN", "SCRAM-SHA-256"]}
        assert _closed(sock)


def test_only_api_versions_and_sasl_before_authentication(secured: Secured) -> None:
    with _plainsasl(secured) as sock:
        versions = _call(sock, ApiKey.API_VERSIONS, 3, {"client_software_name": "raw",
                                                         "client_software_version": "1"})
        advertised = {k["api_key"]: (k["min_version"], k["max_version"]) for k in versions["api_keys"]}
        assert advertised[ApiKey.SASL_HANDSHAKE] == (0, 1) and advertised[ApiKey.SASL_AUTHENTICATE] == (0, 2)
        sock.sendall(encode_request(ApiKey.METADATA, 12, 8, "raw", {"topics": None,
                                                                     "allow_auto_topic_creation": False,
                                                                     "include_topic_authorized_operations": False}))
        assert _closed(sock)


def test_a_client_that_never_authenticates_is_closed(secured: Secured) -> None:
    with _plainsasl(secured) as sock:  # kopfka.authentication.timeout.ms=3000 here
        assert _closed(sock)


def test_a_large_frame_before_authentication_closes_the_connection(secured: Secured) -> None:
    with _plainsasl(secured) as sock:
        sock.sendall(struct.pack(">i", 600_000) + b"\0" * 1000)  # over sasl.server.max.receive.size
        assert _closed(sock)


def test_a_client_without_a_certificate_is_refused_on_the_mutual_tls_listener(secured: Secured) -> None:
    context = ssl.create_default_context(cafile=secured.ca_file)
    port = secured.ports["EXTERNAL"][1]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls, \
            pytest.raises((ssl.SSLError, ConnectionError)):
        tls.sendall(encode_request(ApiKey.API_VERSIONS, 0, 1, "raw", {}))
        _frame(tls)  # TLS 1.3: the refusal arrives with the first read


def test_sessions_are_reauthenticated_and_keep_working(secured: Secured) -> None:
    """librdkafka re-authenticates before the 4 s session ends (KIP-368); its produce keeps succeeding for three
    sessions."""
    create_topic(secured, "sec-reauth")
    producer = Producer({**librdkafka_config(secured, "plain"), "acks": "all"})
    delivered: list[int] = []
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < 3 * REAUTH_MS / 1000:
        producer.produce("sec-reauth", value=str(sent).encode(), partition=0,
                         on_delivery=lambda err, m: delivered.append(int(m.value())) if err is None else None)
        sent += 1
        producer.flush(30)
    assert producer.flush(30) == 0
    assert delivered == list(range(sent))


def test_replication_over_sasl_ssl_survives_a_leader_kill(secured: Secured) -> None:
    create_topic(secured, "sec-replicated")
    config = {**librdkafka_config(secured, "scram-512-over-tls"), "acks": "all"}
    producer = Producer(config)
    for i in range(100):
        producer.produce("sec-replicated", value=b"%d" % i, partition=0)
    assert producer.flush(60) == 0
    leader = admin(secured).list_topics("sec-replicated", timeout=10).topics["sec-replicated"].partitions[0].leader
    secured.cluster.kill_broker(leader)
    try:
        producer = Producer({**config, "bootstrap.servers": ",".join(
            f"127.0.0.1:{p}" for b, p in secured.ports["INTERNAL"].items() if b != leader)})
        for i in range(100, 200):
            producer.produce("sec-replicated", value=b"%d" % i, partition=0)
        assert producer.flush(120) == 0
    finally:
        secured.cluster.start_broker(leader)

    def isr_full() -> bool:
        partition = admin(secured).list_topics("sec-replicated", timeout=10).topics["sec-replicated"].partitions[0]
        return len(partition.isrs) == 3

    wait_for(isr_full, timeout=180, what="the restarted broker back in the ISR over SASL_SSL",
             alive=[BrokersAlive(secured.cluster)])
    values = [b"%d" % i for i in range(200)]
    assert _read_all(secured, "sec-replicated", len(values)) == values


def _read_all(secured: Secured, topic: str, count: int) -> list[bytes]:
    from confluent_kafka import Consumer

    consumer = Consumer({**librdkafka_config(secured, "mutual-tls"), "group.id": f"r-{uuid.uuid4().hex[:6]}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got: list[bytes] = []
    try:
        deadline = time.monotonic() + 90
        while len(got) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                got.append(message.value())
    finally:
        consumer.close()
    return got


def test_a_rotated_certificate_is_served_without_a_restart(secured: Secured) -> None:
    port = secured.ports["EXTERNAL"][2]
    context = ssl.create_default_context(cafile=secured.ca_file)
    context.load_cert_chain(secured.client_file)

    def served_serial() -> int:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            from cryptography import x509

            der = tls.getpeercert(binary_form=True)
            assert der is not None
            return x509.load_der_x509_certificate(der).serial_number

    before = served_serial()
    renewed = secured.ca.server(dns=["localhost"], ips=["127.0.0.1"])
    assert renewed.serial != before
    staged = secured.dir / "broker.pem.new"
    renewed.write_pem(staged)
    staged.replace(secured.dir / "broker.pem")  # as a Kubernetes Secret volume swaps its files
    wait_for(lambda: served_serial() == renewed.serial, timeout=60, what="the renewed certificate served")
    with pytest.raises(KafkaException):  # and nothing else broke: a wrong password is still refused
        AdminClient({**librdkafka_config(secured, "scram-512-over-tls"), "sasl.password": "no"}).list_topics(
            timeout=5)


def test_kopfka_commands_read_kafka_client_properties(secured: Secured, tmp_path: Path) -> None:
    """`--command-config` / `--producer.config` / `--consumer.config` as Kafka's tools take them: SASL_SSL with
    SCRAM-SHA-512 (a ScramLoginModule JAAS line, a PEM trust store) and mutual TLS (a PEM key store)."""
    from tests.integration.test_cli import kopfka

    scram = tmp_path / "alice.properties"
    scram.write_text("security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
                     "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
                     'username="alice" password="alice-secret";\n'
                     f"ssl.truststore.type=PEM\nssl.truststore.location={secured.ca_file}\n")
    mtls = tmp_path / "mtls.properties"
    mtls.write_text(f"security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={secured.ca_file}\n"
                    f"ssl.keystore.type=PEM\nssl.keystore.location={secured.client_file}\n")
    internal, external = secured.bootstrap("INTERNAL"), secured.bootstrap("EXTERNAL")
    created = kopfka("topics", "--bootstrap-server", internal, "--command-config", str(scram), "--create",
                     "--topic", "sec-cli", "--partitions", "1", "--replication-factor", "3")
    assert created.returncode == 0, created.stderr
    produced = kopfka("console-producer", "--bootstrap-server", internal, "--producer.config", str(scram),
                      "--topic", "sec-cli", input="one\ntwo\n")
    assert produced.returncode == 0, produced.stderr
    consumed = kopfka("console-consumer", "--bootstrap-server", external, "--consumer.config", str(mtls),
                      "--topic", "sec-cli", "--from-beginning", "--max-messages", "2")
    assert consumed.returncode == 0 and consumed.stdout.splitlines() == ["one", "two"], consumed.stderr
    wrong = tmp_path / "wrong.properties"
    wrong.write_text(scram.read_text().replace("alice-secret", "guess"))
    refused = kopfka("topics", "--bootstrap-server", internal, "--command-config", str(wrong), "--list",
                     timeout=120)
    assert refused.returncode != 0
    jks = tmp_path / "jks.properties"
    jks.write_text("security.protocol=SSL\nssl.truststore.location=/etc/truststore.jks\n")
    bad = kopfka("topics", "--bootstrap-server", external, "--command-config", str(jks), "--list")
    assert bad.returncode == 1 and "ssl.truststore.type=JKS" in bad.stderr and "PEM" in bad.stderr


def test_brokers_renew_their_own_sessions_before_they_expire(cluster_factory) -> None:
    """With ``connections.max.reauth.ms`` on the inter-broker listener, followers replace their connection before
    the session ends instead of being cut off: acks=all produce keeps succeeding across five sessions, the ISR
    stays whole, and no broker closes a follower for an expired session."""
    ports = {name: {i: free_port("127.0.0.1") for i in (1, 2)} for name in ("REPLICATION", "PLAINTEXT")}
    per_broker = {i: {"listeners": f"REPLICATION://127.0.0.1:{ports['REPLICATION'][i]},"
                                   f"PLAINTEXT://127.0.0.1:{ports['PLAINTEXT'][i]}"} for i in (1, 2)}
    for props in per_broker.values():
        props["advertised.listeners"] = props["listeners"]
    cluster = cluster_factory(brokers=2, per_broker_overrides=per_broker, before_start=write_scram_users, overrides={
        "listener.security.protocol.map": "REPLICATION:SASL_PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "inter.broker.listener.name": "REPLICATION", "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "listener.name.replication.scram-sha-512.sasl.jaas.config": SCRAM_JAAS,
        "listener.name.replication.connections.max.reauth.ms": "2000", "replica.fetch.wait.max.ms": "100"})
    bootstrap = ",".join(f"127.0.0.1:{p}" for p in ports["PLAINTEXT"].values())
    client = AdminClient({"bootstrap.servers": bootstrap})
    for future in client.create_topics([NewTopic("renewed", 1, 2)]).values():
        future.result(60)
    wait_for(lambda: len(client.list_topics("renewed", timeout=10).topics["renewed"].partitions[0].isrs) == 2,
             timeout=120, what="renewed fully replicated", alive=[BrokersAlive(cluster)])
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "message.timeout.ms": 20000})
    delivered: list[int] = []
    sent, started = 0, time.monotonic()
    while time.monotonic() - started < 10:  # five sessions of 2 s
        producer.produce("renewed", value=str(sent).encode(), partition=0,
                         on_delivery=lambda err, m: delivered.append(int(m.value())) if err is None else None)
        sent += 1
        producer.flush(30)
    assert producer.flush(30) == 0 and delivered == list(range(sent))
    assert len(client.list_topics("renewed", timeout=10).topics["renewed"].partitions[0].isrs) == 2
    for broker_id in cluster.broker_ids:
        assert "SASL session expired" not in cluster.log_path(broker_id).read_text()


@pytest.mark.parametrize("mode", MODES)
def test_what_the_acls_do_not_allow_is_refused(secured: Secured, mode: str) -> None:
    """Outside the ``sec-`` topics every client principal is refused: producing to an existing topic answers
    TOPIC_AUTHORIZATION_FAILED, and Metadata does not show it."""
    create_topic(secured, "private-orders")
    config = librdkafka_config(secured, mode)
    assert "private-orders" not in AdminClient(config).list_topics(timeout=30).topics
    producer = Producer({**config, "message.timeout.ms": 10000})
    errors: list[str] = []
    producer.produce("private-orders", b"x", partition=0, on_delivery=lambda err, _m: errors.append(err.name()))
    producer.flush(30)
    assert errors == ["TOPIC_AUTHORIZATION_FAILED"]
