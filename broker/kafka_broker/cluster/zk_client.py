"""The broker's ZooKeeper client: how it logs in to ZooKeeper, and which ACLs the znodes it creates get.

**Login** (Kafka's ``JaasUtils.isZkSaslEnabled``). The broker logs in with SASL DIGEST-MD5 when the JAAS file
named by the system property ``java.security.auth.login.config`` — read from ``KAFKA_OPTS``, see
:mod:`kafka_broker.config.system_properties` — has the section named by ``zookeeper.sasl.clientconfig``
(``Client``): its ``DigestLoginModule`` entry gives the ``username`` and ``password``. No file or no such
section: no login. The section present but ``zookeeper.sasl.client=false``: an error, as in Kafka. kazoo logs
in on every connection it makes (pure-sasl does DIGEST-MD5). kazoo reports a connection before the login's
outcome, so :func:`start_client` waits for one read queued behind the login: a refused login stops the broker at
start (:class:`ZooKeeperLoginRefusedError`), as Kafka's ``ZooKeeperClientAuthFailedException`` does; one refused
later, on a reconnection, is reported by :func:`on_login_refused`.

**ACLs** (``zookeeper.set.acl``, Kafka's ``ZkData.defaultAcls``). With it on, every znode the broker creates gets
ALL for its creator — ZooKeeper's ``auth`` scheme, which the server records as the login, ``sasl:<user>`` — and
READ for everyone; a znode at or below a sensitive path (``/config/users``, ``/config/brokers``,
``/delegation_token/tokens``: :func:`kafka_broker.metadata.sensitive_path`) gets only its creator's, and
``/consumers`` itself stays open to all. So only the brokers (which all log in as the same user) can change the
metadata, and nobody else can read SCRAM credentials or dynamic broker passwords. :class:`SecureAclClient`
chooses the ACL from each znode's own path inside kazoo's create, so every create gets it — the store's, the
authorizer's, the config writers', the producer id blocks', inside transactions, the parents a ``makepath``
create makes (kazoo alone would give them the child's ACL; Kafka's ``createRecursive`` decides per parent), and
the chroot. Existing znodes keep their ACLs (Kafka's ``zookeeper-security-migration`` tool changes those).
``zookeeper.set.acl=true`` without a login stops the broker at start with Kafka's message.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kazoo.client import KazooClient, KazooState, TransactionRequest
from kazoo.exceptions import AuthFailedError, ConnectionLoss, SessionClosedRequireSaslError
from kazoo.protocol.states import KeeperState
from kazoo.retry import KazooRetry
from kazoo.security import ACL, CREATOR_ALL_ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE

from kafka_broker import metadata as md
from kafka_broker.config import ConfigError, ZooKeeperSettings
from kafka_broker.config.system_properties import LOGIN_CONFIG, ZK_SASL_CLIENT, ZooKeeperSaslProperties
from kafka_broker.security.jaas import DIGEST_LOGIN_MODULE, parse_jaas_file

log = logging.getLogger(__name__)

SASL_MECHANISM = "DIGEST-MD5"


@dataclass(frozen=True, slots=True)
class ZooKeeperLogin:
    """The broker's SASL DIGEST-MD5 credentials for ZooKeeper, and where they were read (for messages)."""

    username: str
    password: str = field(repr=False)
    source: str
    """``JAAS section Client of <file>``."""

    def sasl_options(self) -> dict[str, str]:
        """kazoo's ``sasl_options`` (a new dict each time: kazoo adds to it)."""
        return {"mechanism": SASL_MECHANISM, "username": self.username, "password": self.password}


def zookeeper_login(properties: ZooKeeperSaslProperties) -> ZooKeeperLogin | None:
    """The login the system properties configure (module docstring), None for none; ConfigError with Kafka's
    words for a JAAS file that cannot be read or parsed, or a section that SASL is turned off for."""
    if properties.login_config is None:
        return None
    path = _login_config_path(properties.login_config)
    try:
        sections = parse_jaas_file(path.read_text())
    except OSError as exc:
        raise ConfigError(f"Exception while loading Zookeeper JAAS login context {properties.describe()}: "
                          f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"Exception while loading Zookeeper JAAS login context {properties.describe()}: "
                          f"{path}: {exc}") from None
    entries = sections.get(properties.section)
    if entries is None:
        return None
    if not properties.sasl_enabled:
        raise ConfigError(f"Exception while determining if ZooKeeper is secure {properties.describe()}: JAAS "
                          f"configuration is present, but system property {ZK_SASL_CLIENT} is set to false, which "
                          "disables SASL in the ZooKeeper client")
    source = f"JAAS section {properties.section} of {path}"
    digest = [entry for entry in entries if entry.module == DIGEST_LOGIN_MODULE]
    if not digest:
        found = ", ".join(entry.module for entry in entries) or "no login module"
        raise ConfigError(f"{source}: kopfka logs in to ZooKeeper with SASL {SASL_MECHANISM} only, from a "
                          f"{DIGEST_LOGIN_MODULE} entry; found {found}")
    entry = digest[0]
    if entry.username is None or entry.password is None:
        raise ConfigError(f"{source}: the {DIGEST_LOGIN_MODULE} entry needs username and password options")
    return ZooKeeperLogin(entry.username, entry.password, source)


def _login_config_path(value: str) -> Path:
    """The file of ``java.security.auth.login.config``: a path or a ``file:`` URL; a leading ``=`` (Java's
    ``-D...login.config==file``, which replaces the JVM's other login configurations) is dropped."""
    value = value.removeprefix("=")
    if value.startswith("file:"):
        return Path(urllib.parse.unquote(urllib.parse.urlsplit(value).path))
    return Path(value)


def znode_acl(path: str) -> list[ACL]:
    """The ACL of a znode created at ``path`` (relative to the chroot) with secure ACLs (module docstring)."""
    if path == md.CONSUMERS_PATH:
        return list(OPEN_ACL_UNSAFE)
    return [*CREATOR_ALL_ACL, *([] if md.sensitive_path(path) else READ_ACL_UNSAFE)]


class SecureAclClient(KazooClient):  # type: ignore[misc]  # kazoo is untyped
    """A kazoo client that creates every znode with :func:`znode_acl` of its own path. An ACL passed by a
    caller is replaced: kopfka passes none, and kazoo passes a child's ACL to the parents of a ``makepath``
    create."""

    def create_async(self, path: str, value: bytes = b"", acl: Any = None, ephemeral: bool = False,
                     sequence: bool = False, makepath: bool = False, include_data: bool = False) -> Any:
        return super().create_async(path, value, acl=znode_acl(path), ephemeral=ephemeral, sequence=sequence,
                                    makepath=makepath, include_data=include_data)

    def transaction(self) -> TransactionRequest:
        return _SecureAclTransaction(self)


class _SecureAclTransaction(TransactionRequest):  # type: ignore[misc]
    def create(self, path: str, value: bytes = b"", acl: Any = None, ephemeral: bool = False,
               sequence: bool = False) -> None:
        super().create(path, value, acl=znode_acl(path), ephemeral=ephemeral, sequence=sequence)


@dataclass(frozen=True, slots=True)
class ZooKeeperSecurity:
    """How the broker's ZooKeeper clients log in, and whether their znodes get secure ACLs."""

    login: ZooKeeperLogin | None = None
    secure_acls: bool = False

    @classmethod
    def from_settings(cls, settings: ZooKeeperSettings) -> ZooKeeperSecurity:
        """The login of ``settings.sasl`` and ``zookeeper.set.acl``; ConfigError for secure ACLs without a
        login (Kafka's ``KafkaZkClient.createZkClient`` message; kopfka has no TLS to ZooKeeper)."""
        login = zookeeper_login(settings.sasl)
        if settings.set_acl and login is None:
            raise ConfigError(
                "zookeeper.set.acl is true, but ZooKeeper client TLS configuration identifying at least "
                "zookeeper.ssl.client.enable, zookeeper.clientCnxnSocket, and zookeeper.ssl.keystore.location was "
                f"not present and the verification of the JAAS login file failed {settings.sasl.describe()} "
                f"(kopfka logs in to ZooKeeper with SASL only: set -D{LOGIN_CONFIG}=<JAAS file> in KAFKA_OPTS)")
        return cls(login, settings.set_acl)

    def client(self, hosts: str, **kazoo_options: Any) -> KazooClient:
        """A kazoo client for ``hosts`` (``host:port,...[/chroot]``) that logs in and creates znodes as set."""
        if self.login is not None:
            kazoo_options["sasl_options"] = self.login.sasl_options()
        return (SecureAclClient if self.secure_acls else KazooClient)(hosts=hosts, **kazoo_options)


PLAIN = ZooKeeperSecurity()
"""No login, open ACLs: ZooKeeper as kopfka used it before ``zookeeper.set.acl``."""


class ZooKeeperLoginRefusedError(RuntimeError):
    """ZooKeeper refused the broker's SASL login."""


def start_client(zk: KazooClient, *, timeout: float, login: ZooKeeperLogin | None) -> None:
    """Connect ``zk`` and, with a login, wait for its outcome; a refused login stops and closes the client and
    raises :class:`ZooKeeperLoginRefusedError`."""
    zk.start(timeout=timeout)
    if login is None:
        return
    try:
        zk.exists("/")  # queued behind the login: answered only if ZooKeeper accepted it
    except (AuthFailedError, SessionClosedRequireSaslError, ConnectionLoss) as exc:
        # a refused login: AUTH_FAILED; with enforce.auth.enabled ZooKeeper closes the session (CLOSED)
        refused = not isinstance(exc, ConnectionLoss) or zk.client_state in (KeeperState.AUTH_FAILED,
                                                                             KeeperState.CLOSED)
        zk.stop()
        zk.close()
        if not refused:
            raise
        where = ",".join(f"{host}:{port}" for host, port in zk.hosts)
        raise ZooKeeperLoginRefusedError(
            f"ZooKeeper at {where} refused the broker's SASL {SASL_MECHANISM} login as {login.username!r} "
            f"({login.source}): wrong username or password, or a user ZooKeeper does not know (Auth failed either "
            "before or while waiting for connection)") from exc


def on_login_refused(zk: KazooClient, callback: Callable[[], object]) -> None:
    """Call ``callback`` (on kazoo's thread) if ZooKeeper refuses ``zk``'s login on a later connection: kazoo
    then stops connecting, and the broker could never come back on its own."""

    def listener(state: str) -> None:
        if state == KazooState.LOST and zk.client_state == KeeperState.AUTH_FAILED:
            callback()

    zk.add_listener(listener)


def zookeeper_client(settings: ZooKeeperSettings, *, security: ZooKeeperSecurity | None = None) -> KazooClient:
    """The broker's kazoo client (``security`` default: :meth:`ZooKeeperSecurity.from_settings`). It retries
    connecting (and the recipes' watch reads) with a backoff doubling from 0.1 s up to
    ``kopfka.zookeeper.reconnect.backoff.max.ms``, never giving up. kazoo's default doubles up to an hour between
    attempts: 33 s apart after a short outage, long after ZooKeeper was back."""
    security = ZooKeeperSecurity.from_settings(settings) if security is None else security
    max_delay = settings.reconnect_backoff_max_ms / 1000
    retry = KazooRetry(max_tries=-1, delay=min(0.1, max_delay), backoff=2, max_delay=max_delay)
    return security.client(settings.connect, timeout=settings.session_timeout_ms / 1000,
                           connection_retry=retry, command_retry=retry.copy())


def ensure_chroot(connect: str, *, security: ZooKeeperSecurity = PLAIN, timeout: float = 15.0,
                  logger: Any = None) -> None:
    """Create the chroot of ``connect`` if it names one (as Kafka does): clients cannot use a missing chroot."""
    hosts, chroot = md.split_chroot(connect)
    if not chroot:
        return
    zk = security.client(hosts, timeout=timeout, **({"logger": logger} if logger is not None else {}))
    start_client(zk, timeout=timeout, login=security.login)
    try:
        zk.ensure_path(chroot)
    finally:
        zk.stop()
        zk.close()


def connect_zookeeper(settings: ZooKeeperSettings, *, security: ZooKeeperSecurity) -> KazooClient:
    """Connect (logging in, if configured), creating the chroot first if the connect string names one (as Kafka
    does)."""
    timeout = settings.connection_timeout_ms / 1000
    ensure_chroot(settings.connect, security=security, timeout=timeout)
    zk = zookeeper_client(settings, security=security)
    start_client(zk, timeout=timeout, login=security.login)
    if security.login is not None:
        log.info("logged in to ZooKeeper as %r (%s)%s", security.login.username, security.login.source,
                 "; creating znodes with secure ACLs" if security.secure_acls else "")
    return zk
