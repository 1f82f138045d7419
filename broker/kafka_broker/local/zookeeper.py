"""A standalone ZooKeeper server from Debian's `zookeeper` package, run with `java` directly.

No service manager is involved (tests, CI and `kopfka local` run as plain processes): we write a
`zoo.cfg`, start `QuorumPeerMain` with the Debian jars, and call it ready when the `ruok`
four-letter word answers `imok` (about 3 s on a quiet machine).

The class path lists `slf4j-simple` before `/usr/share/java/*` on purpose: that folder holds several
SLF4J bindings, and whichever comes first wins; slf4j-simple logs INFO to stderr without any config
file (log4j12 would clash with log4j-over-slf4j from the same folder and abort start-up).

**SASL.** With ``sasl_users`` the server accepts SASL DIGEST-MD5 logins, as a ZooKeeper guarding a Kafka cluster
is set up: a JAAS file (``jaas.conf`` next to ``zoo.cfg``) whose ``Server`` section's ``DigestLoginModule`` lists
each user as ``user_<name>="<password>"``, passed with ``-Djava.security.auth.login.config``, and
``authProvider.sasl=org.apache.zookeeper.server.auth.SASLAuthenticationProvider`` in ``zoo.cfg`` so that a client
that logged in is known as ``sasl:<name>`` to the znodes' ACLs. Unauthenticated clients may still connect and
do what the ACLs let ``world:anyone`` do; with ``require_sasl`` too, ZooKeeper 3.8 closes every session that has
not logged in with SASL (``enforce.auth.enabled=true``, ``enforce.auth.schemes=sasl``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from kafka_broker.local.processes import free_port, log_tail, stop_process

ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")
CLASSPATH = f"{ZOOKEEPER_JAR}:/usr/share/java/slf4j-simple.jar:/usr/share/java/*"
MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
DIGEST_LOGIN_MODULE = "org.apache.zookeeper.server.auth.DigestLoginModule"
SASL_AUTH_PROVIDER = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"


def _jaas_quoted(text: str) -> str:
    """``text`` as a JAAS quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def four_letter_word(host: str, port: int, word: str, *, timeout: float = 2.0) -> str:
    """Send a ZooKeeper four-letter command (`ruok`, `srvr`) and return the whole answer."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(word.encode("ascii"))
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace")


class ZooKeeperProcess:
    """One standalone ZooKeeper server on a loopback port.

    `data_dir` holds `zoo.cfg`, the snapshots (`data/`) and the server's output (`zookeeper.log`).
    `port=0` picks a free port. Keeping `data_dir` between runs keeps the znodes (and topics).
    `sasl_users` (name → password) turns on SASL DIGEST-MD5 logins, `require_sasl` refuses sessions
    without one (module docstring).
    """

    def __init__(
        self,
        *,
        data_dir: Path,
        port: int = 0,
        host: str = "127.0.0.1",
        tick_time_ms: int = 2000,
        heap: str = "256m",
        java: str = "java",
        startup_timeout: float = 180.0,
        sasl_users: Mapping[str, str] | None = None,
        require_sasl: bool = False,
    ) -> None:
        if require_sasl and not sasl_users:
            raise ValueError("require_sasl needs sasl_users: nobody could log in")
        self.sasl_users = dict(sasl_users or {})
        self.require_sasl = require_sasl
        self.data_dir = Path(data_dir).absolute()
        self.host = host
        self.port = port or free_port(host)
        self.tick_time_ms = tick_time_ms
        self.heap = heap
        self.java = java
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def connect(self) -> str:
        """The connection string for clients and brokers: `host:port` (no chroot)."""
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "zookeeper.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def write_config(self) -> Path:
        """Write `zoo.cfg` and return its path."""
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        cfg = self.data_dir / "zoo.cfg"
        cfg.write_text(
            "\n".join(
                [
                    f"tickTime={self.tick_time_ms}",
                    f"dataDir={self.data_dir / 'data'}",
                    f"clientPort={self.port}",
                    f"clientPortAddress={self.host}",
                    "maxClientCnxns=0",
                    "admin.enableServer=false",
                    "4lw.commands.whitelist=ruok,srvr",
                    *self._sasl_config(),
                    "",
                ]
            )
        )
        return cfg

    @property
    def jaas_path(self) -> Path:
        """The server's JAAS file (written only with `sasl_users`)."""
        return self.data_dir / "jaas.conf"

    def _sasl_config(self) -> list[str]:
        """The `zoo.cfg` lines for SASL; with SASL on, writes the server's JAAS file too."""
        if not self.sasl_users:
            return []
        users = "".join(f"\n    user_{name}={_jaas_quoted(password)}" for name, password in self.sasl_users.items())
        self.jaas_path.write_text(f"Server {{\n  {DIGEST_LOGIN_MODULE} required{users};\n}};\n")
        lines = [f"authProvider.sasl={SASL_AUTH_PROVIDER}"]
        if self.require_sasl:
            lines += ["enforce.auth.enabled=true", "enforce.auth.schemes=sasl"]
        return lines

    def _java_options(self) -> list[str]:
        return [f"-Djava.security.auth.login.config={self.jaas_path}"] if self.sasl_users else []

    def ruok(self) -> bool:
        """True when the server answers `imok`."""
        try:
            return four_letter_word(self.host, self.port, "ruok", timeout=1.0) == "imok"
        except OSError:
            return False

    def start(self) -> str:
        """Start the server, wait until it answers `imok`, and return its connect string."""
        if self._proc is not None and self._proc.poll() is None:
            return self.connect
        if not ZOOKEEPER_JAR.exists():
            raise RuntimeError(f"ZooKeeper is not installed ({ZOOKEEPER_JAR} missing): apt-get install zookeeper")
        if shutil.which(self.java) is None:
            raise RuntimeError(f"{self.java!r} not found: apt-get install default-jre-headless")
        cfg = self.write_config()
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [self.java, f"-Xmx{self.heap}", *self._java_options(), "-cp", CLASSPATH, MAIN_CLASS, str(cfg)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches our parent only, which stops us in order
            )
        deadline = time.monotonic() + self.startup_timeout
        while not self.ruok():
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"ZooKeeper exited with code {self._proc.returncode} during start-up; "
                    f"last lines of {self.log_path}:\n{log_tail(self.log_path)}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(
                    f"ZooKeeper did not answer 'ruok' on {self.connect} within {self.startup_timeout}s; "
                    f"last lines of {self.log_path}:\n{log_tail(self.log_path)}"
                )
            time.sleep(0.2)
        return self.connect

    def stop(self, *, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds."""
        if self._proc is not None:
            stop_process(self._proc, timeout=timeout)
            self._proc = None

    def __enter__(self) -> ZooKeeperProcess:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
