"""A cluster of broker processes on this machine: `kopfka local`, the integration tests and the benchmarks.

Layout under `data_dir` (the same for every broker id `i` in 1..N)::

    zookeeper/                 our own ZooKeeper (only when no `zookeeper_connect` was given)
    broker-<i>/server.properties
    broker-<i>/data/           the broker's `log.dirs`
    broker-<i>.log             the broker's stdout and stderr (appended across restarts)
    broker-<i>.pid             the pid while it runs

Ports: with `port=0` every broker gets a free loopback port for Kafka and one for HTTP; with a fixed
`port=P`, broker `i` listens on `P + i - 1` and serves HTTP on `P + 100 + i - 1` (9092 → 9192).
Ports are chosen once, so a restarted broker comes back at the address clients already know.
`overrides` (all brokers) and then `per_broker_overrides[i]` are applied last and win over every
default here, `kopfka.http.port` included. `env` is added to the brokers' environment, e.g. `KAFKA_OPTS` naming
the JAAS file of the brokers' ZooKeeper login; the cluster's own ZooKeeper client logs in the same way.

A broker counts as started when its ephemeral `/brokers/ids/<i>` znode exists and belongs to a new
ZooKeeper session: after a SIGKILL the old registration lingers until its session expires, and it
must not be mistaken for the restarted broker's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType

from kazoo.client import KazooClient

from kafka_broker.cluster.zk_client import PLAIN, ZooKeeperSecurity, start_client, zookeeper_login
from kafka_broker.cluster.zk_client import ensure_chroot as create_chroot
from kafka_broker.config import BROKER_CONFIGS, ZooKeeperSaslProperties
from kafka_broker.local.processes import free_port, log_tail, stop_process
from kafka_broker.local.zookeeper import ZooKeeperProcess
from kafka_broker.metadata import broker_path

HTTP_PORT_OFFSET = 100
"""With a fixed base port P, broker i serves HTTP on P + HTTP_PORT_OFFSET + i - 1."""

HTTP_PORT_KEY = "kopfka.http.port"

# kazoo warns about every dropped connection attempt, e.g. while a fresh ZooKeeper finishes starting;
# our waits report real failures themselves.
_KAZOO_LOG = logging.getLogger("kafka_broker.local.kazoo")
_KAZOO_LOG.setLevel(logging.ERROR)


def ensure_chroot(connect: str, *, security: ZooKeeperSecurity = PLAIN, timeout: float = 15.0) -> None:
    """Create the chroot of `connect` in ZooKeeper if it has one (quietly: see `_KAZOO_LOG`)."""
    create_chroot(connect, security=security, timeout=timeout, logger=_KAZOO_LOG)


def write_properties(path: Path, properties: Mapping[str, str]) -> None:
    """Write a Java-style `.properties` file, one `key=value` a line, in the mapping's order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))


class LocalCluster:
    """N broker processes (ids 1..N) plus, unless `zookeeper_connect` is given, our own ZooKeeper.

    Subclasses change what runs by overriding `broker_command()` and `flavour_properties()`
    (`bench/apache_kafka.py` runs Apache Kafka this way); everything else is shared.

    `start_timeout` bounds the wait for every broker to register (s); `stop_timeout` how long a SIGTERMed
    broker has before SIGKILL — well above the 30 s a controlled shutdown may take, so a slow one on a
    loaded machine is not killed just as it finishes.
    """

    def __init__(
        self,
        *,
        brokers: int,
        data_dir: Path,
        port: int = 0,
        host: str = "127.0.0.1",
        zookeeper_connect: str | None = None,
        overrides: Mapping[str, str] | None = None,
        per_broker_overrides: Mapping[int, Mapping[str, str]] | None = None,
        env: Mapping[str, str] | None = None,
        start_timeout: float = 180.0,
        stop_timeout: float = 120.0,
    ) -> None:
        if brokers < 1:
            raise ValueError(f"a cluster needs at least one broker, not {brokers}")
        unknown = set(per_broker_overrides or {}) - set(range(1, brokers + 1))
        if unknown:
            raise ValueError(f"per_broker_overrides names brokers that do not exist: {sorted(unknown)}")
        self.data_dir = Path(data_dir).absolute()
        self.host = host
        self.broker_ids = list(range(1, brokers + 1))
        self.overrides = dict(overrides or {})
        self.per_broker_overrides = {i: dict(o) for i, o in (per_broker_overrides or {}).items()}
        self.env = dict(env or {})
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._ports = {i: (port + i - 1 if port else free_port(host)) for i in self.broker_ids}
        self._http_ports = {i: (port + HTTP_PORT_OFFSET + i - 1 if port else free_port(host)) for i in self.broker_ids}
        self.zookeeper: ZooKeeperProcess | None = None
        if zookeeper_connect is None:
            self.zookeeper = ZooKeeperProcess(data_dir=self.data_dir / "zookeeper", host=host)
            zookeeper_connect = self.zookeeper.connect
        self._zookeeper_connect = zookeeper_connect
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._zk: KazooClient | None = None

    # -- what a broker is: subclasses override these two ---------------------------------------------

    def broker_command(self, broker_id: int, properties_path: Path) -> list[str]:
        """The command line that runs broker `broker_id` with its properties file."""
        return [sys.executable, "-m", "kafka_broker.main", str(properties_path)]

    def flavour_properties(self, broker_id: int) -> dict[str, str]:
        """Properties only this kind of broker understands (for kopfka: its HTTP port)."""
        return {HTTP_PORT_KEY: str(self._http_ports[broker_id])}

    # -- addresses and paths -------------------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"{self.host}:{p}" for p in self.broker_ports.values())

    @property
    def zookeeper_connect(self) -> str:
        """What the brokers use: `host:port[/chroot]`."""
        return self._zookeeper_connect

    @property
    def broker_ports(self) -> dict[int, int]:
        return dict(self._ports)

    @property
    def broker_http_ports(self) -> dict[int, int]:
        """HTTP (health, metrics) port per broker, as configured; brokers without HTTP are left out."""
        ports = {i: int(self.broker_properties(i).get(HTTP_PORT_KEY, "0")) for i in self.broker_ids}
        return {i: p for i, p in ports.items() if p}

    def broker_dir(self, broker_id: int) -> Path:
        return self.data_dir / f"broker-{broker_id}"

    def properties_path(self, broker_id: int) -> Path:
        return self.broker_dir(broker_id) / "server.properties"

    def log_path(self, broker_id: int) -> Path:
        return self.data_dir / f"broker-{broker_id}.log"

    def pid_path(self, broker_id: int) -> Path:
        return self.data_dir / f"broker-{broker_id}.pid"

    def broker_properties(self, broker_id: int) -> dict[str, str]:
        """The full server.properties of one broker: defaults, flavour, then the overrides."""
        self._check_id(broker_id)
        listener = f"PLAINTEXT://{self.host}:{self._ports[broker_id]}"
        internal_rf = min(3, len(self.broker_ids))
        props = {
            "broker.id": str(broker_id),
            "listeners": listener,
            "advertised.listeners": listener,
            "log.dirs": str(self.broker_dir(broker_id) / "data"),
            "zookeeper.connect": self.zookeeper_connect,
            # Kafka's default of 3 cannot be met by a smaller cluster: internal topics would never exist.
            "offsets.topic.replication.factor": str(internal_rf),
            "transaction.state.log.replication.factor": str(internal_rf),
            "transaction.state.log.min.isr": str(min(2, internal_rf)),
        }
        props.update(self.flavour_properties(broker_id))
        props.update(self.overrides)
        props.update(self.per_broker_overrides.get(broker_id, {}))
        return props

    def is_running(self, broker_id: int) -> bool:
        proc = self._procs.get(broker_id)
        return proc is not None and proc.poll() is None

    def exit_status(self, broker_id: int) -> int | None:
        """The exit status of a broker process that ended on its own (negative: killed by that signal, as
        `subprocess` reports it); None while it runs, and after the cluster stopped or killed it."""
        proc = self._procs.get(broker_id)
        return None if proc is None else proc.poll()

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> str:
        """Start ZooKeeper (if ours) and every broker; wait until all are registered; return bootstrap."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            if self.zookeeper is not None:
                self.zookeeper.start()
            else:
                ensure_chroot(self.zookeeper_connect, security=self.zookeeper_security())
            stale = {i: self._registration_owner(i) for i in self.broker_ids}
            for broker_id in self.broker_ids:
                self._spawn(broker_id)
            self._wait_registered(self.broker_ids, stale)
        except BaseException:
            self.stop()
            raise
        return self.bootstrap_servers

    def stop(self) -> None:
        """SIGTERM every broker at once (each moves its leaderships away), SIGKILL the ones still there
        after `stop_timeout`, then stop ZooKeeper. Safe to call twice."""
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.send_signal(signal.SIGCONT)  # a broker paused with SIGSTOP must see the SIGTERM too
        deadline = time.monotonic() + self.stop_timeout
        for broker_id in list(self._procs):
            self._reap(broker_id, timeout=max(0.0, deadline - time.monotonic()))
        if self._zk is not None:
            with contextlib.suppress(Exception):
                self._zk.stop()
                self._zk.close()
            self._zk = None
        if self.zookeeper is not None:
            self.zookeeper.stop()

    def start_broker(self, broker_id: int) -> None:
        """Start one (stopped) broker and wait until it has registered anew."""
        self._check_id(broker_id)
        if self.is_running(broker_id):
            raise RuntimeError(f"broker {broker_id} is already running (pid {self._procs[broker_id].pid})")
        stale = {broker_id: self._registration_owner(broker_id)}
        self._spawn(broker_id)
        self._wait_registered([broker_id], stale)

    def stop_broker(self, broker_id: int, *, timeout: float | None = None) -> int | None:
        """SIGTERM one broker, SIGKILL it after `timeout` (default `stop_timeout`); returns its exit code."""
        self._check_id(broker_id)
        return self._reap(broker_id, timeout=self.stop_timeout if timeout is None else timeout, term=True)

    def kill_broker(self, broker_id: int, sig: int = signal.SIGKILL, *, wait: bool = True) -> int | None:
        """Send `sig` to one broker. With `wait` (ignored for SIGSTOP/SIGCONT) wait until it exits,
        up to `stop_timeout`, and return its exit code; nothing is escalated."""
        self._check_id(broker_id)
        proc = self._procs.get(broker_id)
        if proc is None or proc.poll() is not None:
            raise RuntimeError(f"broker {broker_id} is not running")
        proc.send_signal(sig)
        if not wait or sig in (signal.SIGSTOP, signal.SIGCONT):
            return None
        code = proc.wait(timeout=self.stop_timeout)
        self._forget(broker_id)
        return code

    def restart_broker(self, broker_id: int) -> None:
        """Stop one broker gracefully (SIGTERM) and start it again on the same ports and data."""
        self.stop_broker(broker_id)
        self.start_broker(broker_id)

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------------------------------

    def _check_id(self, broker_id: int) -> None:
        if broker_id not in self._ports:
            raise KeyError(f"no broker {broker_id} in this cluster (ids {self.broker_ids[0]}..{self.broker_ids[-1]})")

    def _spawn(self, broker_id: int) -> None:
        props = self.properties_path(broker_id)
        properties = self.broker_properties(broker_id)
        write_properties(props, properties)
        for log_dir in properties["log.dirs"].split(","):
            Path(log_dir).mkdir(parents=True, exist_ok=True)
        with self.log_path(broker_id).open("ab") as log:
            self._procs[broker_id] = subprocess.Popen(
                self.broker_command(broker_id, props),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.broker_dir(broker_id),
                env={**os.environ, **self.env, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,  # Ctrl-C reaches `kopfka local` only, which stops us in order
            )
        self.pid_path(broker_id).write_text(f"{self._procs[broker_id].pid}\n")

    def _reap(self, broker_id: int, *, timeout: float, term: bool = False) -> int | None:
        proc = self._procs.get(broker_id)
        if proc is None:
            return None
        code = stop_process(proc, timeout=timeout, sig=signal.SIGTERM if term else None)
        self._forget(broker_id)
        return code

    def _forget(self, broker_id: int) -> None:
        self._procs.pop(broker_id, None)
        with contextlib.suppress(FileNotFoundError):
            self.pid_path(broker_id).unlink()

    def zookeeper_security(self) -> ZooKeeperSecurity:
        """How the brokers log in to ZooKeeper (their environment's `KAFKA_OPTS`) and whether they set ACLs."""
        set_acl = BROKER_CONFIGS["zookeeper.set.acl"].parse(
            self.broker_properties(self.broker_ids[0]).get("zookeeper.set.acl"))
        login = zookeeper_login(ZooKeeperSaslProperties.from_environment({**os.environ, **self.env}))
        return ZooKeeperSecurity(login, secure_acls=set_acl is True)

    def _client(self) -> KazooClient:
        if self._zk is None:
            security = self.zookeeper_security()
            zk = security.client(self.zookeeper_connect, timeout=15.0, logger=_KAZOO_LOG)
            start_client(zk, timeout=15.0, login=security.login)
            self._zk = zk
        return self._zk

    def _registration_owner(self, broker_id: int) -> int | None:
        """The ZooKeeper session owning `/brokers/ids/<id>` now (a leftover registration), if any."""
        stat = self._client().exists(broker_path(broker_id))
        return stat.ephemeralOwner if stat else None

    def _wait_registered(self, broker_ids: Iterable[int], stale: Mapping[int, int | None]) -> None:
        pending = set(broker_ids)
        deadline = time.monotonic() + self.start_timeout
        while pending:
            for broker_id in sorted(pending):
                proc = self._procs[broker_id]
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"broker {broker_id} exited with code {proc.returncode} before registering; "
                        f"last lines of {self.log_path(broker_id)}:\n{log_tail(self.log_path(broker_id))}"
                    )
                owner = self._registration_owner(broker_id)
                if owner is not None and owner != stale.get(broker_id):
                    pending.discard(broker_id)
            if pending and time.monotonic() > deadline:
                tails = "\n".join(
                    f"--- last lines of {self.log_path(i)}:\n{log_tail(self.log_path(i))}" for i in sorted(pending)
                )
                raise TimeoutError(
                    f"broker(s) {sorted(pending)} did not register at {self.zookeeper_connect} "
                    f"within {self.start_timeout}s\n{tails}"
                )
            if pending:
                time.sleep(0.1)
