"""The Kafka admin calls the KafkaUser reconcile makes: SCRAM credentials, ACLs and client quotas of one user.

Steps see a ``UserAdmin`` made by a ``UserAdminFactory`` from an ``AdminConnection`` (``KafkaUserAdmin`` in the
operator, an in-memory fake in unit tests). SCRAM credentials and ACLs go through confluent-kafka's AdminClient
(librdkafka); client quotas, which librdkafka has no API for, through kafka-python's low-level network client with
its own ``DescribeClientQuotas`` / ``AlterClientQuotas`` request classes, made only when a quota call needs it. Both
trust the cluster CA and present the operator's certificate when the connection is TLS; kafka-python reads the
certificate and key from one private temporary file that is deleted as soon as the ``SSLContext`` has loaded it.

Every call is synchronous and bounded by ``timeout`` (seconds); failures of either client, and errors the brokers
answer, raise ``UserAdminError``. ``close()`` releases the connections.
"""

from __future__ import annotations

import contextlib
import ssl
import tempfile
import time
from collections.abc import Collection, Iterator, Mapping
from typing import Any, Protocol, cast

import kafka.errors  # type: ignore[import-untyped]
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding as ConfluentAclBinding,
)
from confluent_kafka.admin import (
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from kafka.net.compat import KafkaNetClient  # type: ignore[import-untyped]
from kafka.protocol.admin import (  # type: ignore[import-untyped]
    AlterClientQuotasRequest,
    DescribeClientQuotasRequest,
)

from ..model.access import AdminConnection
from ..model.user import SCRAM_ITERATIONS, SCRAM_MECHANISM, AclBinding

USER_ENTITY = "user"
"""The client quota entity type of a user principal."""
MATCH_EXACT = 0
"""DescribeClientQuotas' match type for an entity of exactly this name."""
RESOURCE_TYPES = {
    "TOPIC": ResourceType.TOPIC,
    "GROUP": ResourceType.GROUP,
    "CLUSTER": ResourceType.BROKER,
    "TRANSACTIONAL_ID": ResourceType.TRANSACTIONAL_ID,
}
"""Kafka's resource types → librdkafka's (its ``BROKER`` is Kafka's ``CLUSTER``, code 4)."""
KAFKA_RESOURCE_TYPES = {confluent.name: kafka for kafka, confluent in RESOURCE_TYPES.items()}


class UserAdminError(Exception):
    """A user admin request failed: the brokers unreachable or answering an error."""


class UserAdmin(Protocol):
    def scram_mechanisms(self, user: str) -> frozenset[str]:
        """The SCRAM mechanisms (``SCRAM-SHA-512``…) ``user`` has credentials for; empty when none."""

    def upsert_scram(self, user: str, password: str) -> None:
        """Set the user's ``SCRAM-SHA-512`` credential (4096 iterations) from ``password``."""

    def delete_scram(self, user: str) -> None:
        """Delete every SCRAM credential of the user; a user without any is not an error."""

    def describe_acls(self, principal: str) -> frozenset[AclBinding]:
        """Every ACL whose principal is ``principal``."""

    def create_acls(self, bindings: Collection[AclBinding]) -> None: ...

    def delete_acls(self, bindings: Collection[AclBinding]) -> None:
        """Delete exactly these ACLs (one filter per binding: nothing else matches)."""

    def describe_quotas(self, user: str) -> dict[str, float]:
        """The client quotas of the user entity ``user`` alone (not of its ``<user, client-id>`` entities)."""

    def alter_quotas(self, user: str, *, set_quotas: Mapping[str, float], remove: Collection[str]) -> None: ...

    def close(self) -> None: ...


class UserAdminFactory(Protocol):
    def __call__(self, connection: AdminConnection, *, timeout: float) -> UserAdmin: ...


def _enum_name(value: Any) -> str:
    return str(getattr(value, "name", value))


def _to_confluent(binding: AclBinding) -> ConfluentAclBinding:
    return ConfluentAclBinding(
        RESOURCE_TYPES[binding.resource_type],
        binding.resource_name,
        ResourcePatternType[binding.pattern_type],
        binding.principal,
        binding.host,
        AclOperation[binding.operation],
        AclPermissionType[binding.permission],
    )


def _to_filter(binding: AclBinding) -> AclBindingFilter:
    exact = _to_confluent(binding)
    return AclBindingFilter(
        exact.restype,
        exact.name,
        exact.resource_pattern_type,
        exact.principal,
        exact.host,
        exact.operation,
        exact.permission_type,
    )


def _from_confluent(binding: ConfluentAclBinding) -> AclBinding:
    resource_type = _enum_name(binding.restype)
    return AclBinding(
        resource_type=KAFKA_RESOURCE_TYPES.get(resource_type, resource_type),
        resource_name=binding.name,
        pattern_type=_enum_name(binding.resource_pattern_type),
        principal=binding.principal,
        host=binding.host,
        operation=_enum_name(binding.operation),
        permission=_enum_name(binding.permission_type),
    )


def ssl_context(connection: AdminConnection) -> ssl.SSLContext | None:
    """An ``SSLContext`` trusting the cluster CA and presenting the operator's certificate (None: PLAINTEXT).
    ``load_cert_chain`` reads files only: the key goes to a temporary file readable by this user alone (mode
    0600), removed as soon as it is read."""
    if connection.ca_pem is None:
        return None
    context = ssl.create_default_context(cadata=connection.ca_pem)
    if connection.cert_pem and connection.key_pem:
        with tempfile.NamedTemporaryFile("w", prefix="kopfka-operator-", suffix=".pem") as pem:
            pem.write(connection.key_pem + connection.cert_pem)
            pem.flush()
            context.load_cert_chain(pem.name)
    return context


class KafkaUserAdmin:
    """``UserAdmin`` over confluent-kafka (SCRAM, ACLs) and kafka-python (client quotas)."""

    def __init__(self, connection: AdminConnection, *, timeout: float) -> None:
        self.connection = connection
        self.timeout = timeout
        self.admin = AdminClient({**connection.confluent_config(), "socket.timeout.ms": int(timeout * 1000)})
        self._quota_client: Any = None

    # --- SCRAM -----------------------------------------------------------------------------------

    def scram_mechanisms(self, user: str) -> frozenset[str]:
        try:
            with _failing(f"describe SCRAM credentials of {user}"):
                futures = cast(  # one future per user named
                    dict[str, Any], self.admin.describe_user_scram_credentials([user], request_timeout=self.timeout)
                )
                description = futures[user].result(self.timeout)
        except UserAdminError as exc:
            if _error_code(exc.__cause__) == KafkaError.RESOURCE_NOT_FOUND:
                return frozenset()
            raise
        return frozenset(_enum_name(info.mechanism).replace("_", "-") for info in description.scram_credential_infos)

    def upsert_scram(self, user: str, password: str) -> None:
        mechanism = ScramMechanism[SCRAM_MECHANISM.replace("-", "_")]
        upsertion = UserScramCredentialUpsertion(
            user, ScramCredentialInfo(mechanism, SCRAM_ITERATIONS), password.encode()
        )
        self._alter_scram([upsertion], user, "set")

    def delete_scram(self, user: str) -> None:
        mechanisms = self.scram_mechanisms(user)
        if mechanisms:
            deletions = [UserScramCredentialDeletion(user, ScramMechanism[m.replace("-", "_")]) for m in mechanisms]
            self._alter_scram(deletions, user, "delete")

    def _alter_scram(self, alterations: list[Any], user: str, what: str) -> None:
        with _failing(f"{what} SCRAM credentials of {user}"):
            futures = self.admin.alter_user_scram_credentials(alterations, request_timeout=self.timeout)
            futures[user].result(self.timeout)

    # --- ACLs ------------------------------------------------------------------------------------

    def describe_acls(self, principal: str) -> frozenset[AclBinding]:
        # None matches any resource name and any host (the stubs type both as str).
        by_principal = AclBindingFilter(
            ResourceType.ANY,
            None,  # type: ignore[arg-type]
            ResourcePatternType.ANY,
            principal,
            None,  # type: ignore[arg-type]
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
        with _failing(f"describe ACLs of {principal}"):
            found = self.admin.describe_acls(by_principal, request_timeout=self.timeout).result(self.timeout)
        return frozenset(_from_confluent(binding) for binding in found)

    def create_acls(self, bindings: Collection[AclBinding]) -> None:
        if not bindings:
            return
        with _failing("create ACLs"):
            futures = self.admin.create_acls([_to_confluent(b) for b in bindings], request_timeout=self.timeout)
            for future in futures.values():
                future.result(self.timeout)

    def delete_acls(self, bindings: Collection[AclBinding]) -> None:
        if not bindings:
            return
        with _failing("delete ACLs"):
            futures = self.admin.delete_acls([_to_filter(b) for b in bindings], request_timeout=self.timeout)
            for future in futures.values():
                future.result(self.timeout)

    # --- client quotas ---------------------------------------------------------------------------

    def describe_quotas(self, user: str) -> dict[str, float]:
        component = DescribeClientQuotasRequest.ComponentData(entity_type=USER_ENTITY, match_type=MATCH_EXACT,
                                                              match=user)
        response = self._send(DescribeClientQuotasRequest(components=[component], strict=True))
        _check(response.error_code, response.error_message, f"describe quotas of {user}")
        quotas: dict[str, float] = {}
        for entry in response.entries or ():
            entity = {(e.entity_type, e.entity_name) for e in entry.entity}
            if entity == {(USER_ENTITY, user)}:
                quotas.update({value.key: float(value.value) for value in entry.values})
        return quotas

    def alter_quotas(self, user: str, *, set_quotas: Mapping[str, float], remove: Collection[str]) -> None:
        entry_type = AlterClientQuotasRequest.EntryData
        ops = [entry_type.OpData(key=key, value=float(value), remove=False) for key, value in set_quotas.items()]
        ops += [entry_type.OpData(key=key, value=0.0, remove=True) for key in remove]
        if not ops:
            return
        entity = entry_type.EntityData(entity_type=USER_ENTITY, entity_name=user)
        request = AlterClientQuotasRequest(entries=[entry_type(entity=[entity], ops=ops)], validate_only=False)
        for result in self._send(request).entries:
            _check(result.error_code, result.error_message, f"alter quotas of {user}")

    def _send(self, request: Any) -> Any:
        """One request to the least loaded broker through kafka-python's network client; the first call connects
        (bootstrap and version discovery within ``timeout``)."""
        deadline = time.monotonic() + self.timeout

        def remaining_ms() -> int:
            return max(1, int((deadline - time.monotonic()) * 1000))

        try:
            client = self._quotas_client(remaining_ms())
            node = client.least_loaded_node(bootstrap_fallback=True)
            if node is None:
                raise UserAdminError(f"no broker of {self.connection.bootstrap} is reachable")
            client.await_ready(node, timeout_ms=remaining_ms())
            future = client.send(node, request)
            client.poll(timeout_ms=remaining_ms(), future=future)
        except (kafka.errors.KafkaError, OSError) as exc:
            raise UserAdminError(f"{type(request).__name__} to {self.connection.bootstrap}: {exc}") from exc
        if not future.is_done:
            raise UserAdminError(f"{type(request).__name__}: no answer within {self.timeout:g} s")
        if future.failed():
            raise UserAdminError(f"{type(request).__name__}: {future.exception}")
        return future.value

    def _quotas_client(self, timeout_ms: int) -> Any:
        if self._quota_client is None:
            context = ssl_context(self.connection)
            client = KafkaNetClient(
                bootstrap_servers=self.connection.bootstrap.split(","),
                client_id="kopfka-operator",
                security_protocol="SSL" if context is not None else "PLAINTEXT",
                ssl_context=context,
                request_timeout_ms=int(self.timeout * 1000),
                socket_connection_setup_timeout_ms=int(self.timeout * 1000),
                reconnect_backoff_max_ms=1000,
            )
            try:
                client.check_version(timeout_ms=timeout_ms)
            except BaseException:
                client.close()
                raise
            self._quota_client = client
        return self._quota_client

    def close(self) -> None:
        if self._quota_client is not None:
            self._quota_client.close()
            self._quota_client = None


@contextlib.contextmanager
def _failing(what: str) -> Iterator[None]:
    """confluent-kafka's errors (and a future's own timeout) as ``UserAdminError``s saying what failed."""
    try:
        yield
    except KafkaException as exc:
        error = exc.args[0] if exc.args else exc
        raise UserAdminError(f"{what}: {error.str() if isinstance(error, KafkaError) else error}") from exc
    except TimeoutError as exc:
        raise UserAdminError(f"{what}: no answer in time") from exc


def _error_code(exc: BaseException | None) -> int | None:
    error = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    return error.code() if isinstance(error, KafkaError) else None


def _check(error_code: int, message: str | None, what: str) -> None:
    if error_code:
        error = kafka.errors.for_code(error_code)
        raise UserAdminError(f"{what}: {error.__name__}{': ' + message if message else ''}")
