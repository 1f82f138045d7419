"""A Kubernetes control plane on loopback for tests: etcd + kube-apiserver + kube-controller-manager.

No kubelet and no scheduler: Pods stay Pending and PVCs unbound, but the API server validates and stores
every object for real, and the controller manager runs the StatefulSet controller (Pods and PVCs from
templates), the garbage collector (owner references) and the service-account controllers (tokens).
Certificates and the service-account key pair are generated per run under a temporary directory.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from tests.waiting import wait_for

BIN_DIR = Path(os.environ.get("KOPFKA_CACHE", Path.home() / ".cache" / "kopfka")) / "bin"
TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "helm")


def tool(name: str) -> Path | None:
    """The pinned build from ``make tools``, else one on PATH (only as a convenience for developers)."""
    path = BIN_DIR / name
    if path.exists():
        return path
    found = shutil.which(name) if name != "kubectl" else None  # Debian's kubectl 1.20 is too old
    return Path(found) if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- certificates ----------------------------------------------------------------------------


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def _cert(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    *,
    issuer: x509.Name | None = None,
    issuer_key: rsa.RSAPrivateKey | None = None,
    ca: bool = False,
    server_names: Sequence[str] = (),
    client: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server_names:
        alt: list[x509.GeneralName] = []
        for n in server_names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                alt.append(x509.DNSName(n))
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    if not ca:
        usages = [x509.ExtendedKeyUsageOID.CLIENT_AUTH] if client else [x509.ExtendedKeyUsageOID.SERVER_AUTH]
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


@dataclass
class Pki:
    dir: Path

    def generate(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        ca_key = _key()
        ca = _cert(_name("kopfka-test-ca"), ca_key, ca=True)
        self._save("ca", ca, ca_key)
        self._ca, self._ca_key = ca, ca_key
        names = ["127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "10.0.0.1"]
        server_key = _key()
        self._save(
            "apiserver",
            _cert(_name("kube-apiserver"), server_key, issuer=ca.subject, issuer_key=ca_key, server_names=names),
            server_key,
        )
        admin_key = _key()
        self._save(
            "admin",
            _cert(_name("admin", "system:masters"), admin_key, issuer=ca.subject, issuer_key=ca_key, client=True),
            admin_key,
        )
        sa_key = _key()
        _write_key(self.dir / "sa.key", sa_key)
        (self.dir / "sa.pub").write_bytes(
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def serving_cert(self, directory: Path, *, hosts: Sequence[str]) -> Path:
        """``tls.crt``/``tls.key`` for a server on ``hosts``, signed by the test CA (``ca.crt``)."""
        directory.mkdir(parents=True, exist_ok=True)
        key = _key()
        cert = _cert(_name(hosts[0]), key, issuer=self._ca.subject, issuer_key=self._ca_key, server_names=hosts)
        (directory / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(directory / "tls.key", key)
        return directory

    def _save(self, name: str, cert: x509.Certificate, key: rsa.RSAPrivateKey) -> None:
        (self.dir / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(self.dir / f"{name}.key", key)

    def path(self, name: str) -> str:
        return str(self.dir / name)


# --- processes -------------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    args: list[str]
    log: Path
    proc: subprocess.Popen | None = None

    def start(self, env: dict[str, str] | None = None) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("wb")
        self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        out.close()

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{tail}")

    def stop(self, timeout: float = 15) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class LocalKubernetes:
    """Start with ``with LocalKubernetes(workdir) as kube: ...``; ``kube.kubeconfig`` is an admin kubeconfig."""

    workdir: Path
    processes: list[Process] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pki = Pki(self.workdir / "pki")
        self.api_port = 0  # chosen when the API server starts (``start``)
        self.kubeconfig = self.workdir / "admin.kubeconfig"

    @property
    def helm_path(self) -> Path:
        return tool("helm")

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    def __enter__(self) -> LocalKubernetes:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.pki.generate()
        logs = self.workdir / "logs"
        etcd_client = 0

        def etcd() -> tuple[Process, Callable[[], bool]]:
            nonlocal etcd_client
            etcd_client, etcd_peer = free_port(), free_port()
            process = Process(
                "etcd",
                [
                    str(tool("etcd")),
                    "--name=default",
                    f"--data-dir={self.workdir / 'etcd'}",
                    f"--listen-client-urls=http://127.0.0.1:{etcd_client}",
                    f"--advertise-client-urls=http://127.0.0.1:{etcd_client}",
                    f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                    f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                    f"--initial-cluster=default=http://127.0.0.1:{etcd_peer}",
                    "--unsafe-no-fsync",
                    "--log-level=warn",
                ],
                logs / "etcd.log",
            )
            return process, lambda: self._http_ok(f"http://127.0.0.1:{etcd_client}/health")

        def apiserver() -> tuple[Process, Callable[[], bool]]:
            self.api_port = free_port()
            process = Process(
                "kube-apiserver",
                [
                    str(tool("kube-apiserver")),
                    f"--etcd-servers=http://127.0.0.1:{etcd_client}",
                    "--bind-address=127.0.0.1",
                    "--advertise-address=127.0.0.1",
                    f"--secure-port={self.api_port}",
                    "--endpoint-reconciler-type=none",
                    f"--cert-dir={self.workdir / 'apiserver-certs'}",
                    f"--tls-cert-file={self.pki.path('apiserver.crt')}",
                    f"--tls-private-key-file={self.pki.path('apiserver.key')}",
                    f"--client-ca-file={self.pki.path('ca.crt')}",
                    f"--service-account-key-file={self.pki.path('sa.pub')}",
                    f"--service-account-signing-key-file={self.pki.path('sa.key')}",
                    "--service-account-issuer=https://kubernetes.default.svc",
                    "--service-cluster-ip-range=10.0.0.0/24",
                    "--authorization-mode=RBAC",
                    "--allow-privileged=true",
                    "--v=1",
                ],
                logs / "kube-apiserver.log",
            )
            return process, lambda: self._http_ok(f"{self.server}/readyz")

        def controller_manager() -> tuple[Process, Callable[[], bool]]:
            process = Process(
                "kube-controller-manager",
                [
                    str(tool("kube-controller-manager")),
                    f"--kubeconfig={self.kubeconfig}",
                    f"--authentication-kubeconfig={self.kubeconfig}",
                    f"--authorization-kubeconfig={self.kubeconfig}",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={free_port()}",
                    f"--cert-dir={self.workdir / 'kcm-certs'}",
                    f"--service-account-private-key-file={self.pki.path('sa.key')}",
                    f"--root-ca-file={self.pki.path('ca.crt')}",
                    "--use-service-account-credentials=false",
                    "--leader-elect=false",
                    "--concurrent-statefulset-syncs=5",
                    "--v=1",
                ],
                logs / "kube-controller-manager.log",
            )
            # The service-account controller creating "default" in "default" shows the controllers run.
            return process, lambda: (
                self.kubectl("get", "serviceaccount", "default", "-n", "default", check=False).returncode == 0
            )

        # upper bounds, generous for a loaded machine: each wait ends when the process answers
        self._start_listening(etcd, timeout=120, what="etcd")
        self._start_listening(apiserver, timeout=300, what="kube-apiserver /readyz")
        self._write_kubeconfig(
            self.kubeconfig,
            user={"client-certificate": self.pki.path("admin.crt"), "client-key": self.pki.path("admin.key")},
        )
        self._start_listening(controller_manager, timeout=180, what="kube-controller-manager")

    def _start_listening(
        self, build: Callable[[], tuple[Process, Callable[[], bool]]], *, timeout: float, what: str, attempts: int = 3
    ) -> None:
        """Start the process ``build`` makes (with fresh ports) until it is ready. A port found free can
        be taken before the process binds it — any outgoing connection on this machine may be handed
        it as its ephemeral port — so a process that exits on "address already in use" is rebuilt on
        new ports and started again."""
        for attempt in range(attempts):
            process, ready = build()
            self.processes.append(process)
            process.start()
            try:
                wait_for(ready, timeout=timeout, what=what, alive=self.processes)
                return
            except RuntimeError as exc:
                if "address already in use" not in str(exc) or attempt == attempts - 1:
                    raise
                self.processes.remove(process)
                process.stop()

    def stop(self) -> None:
        for p in reversed(self.processes):
            p.stop()

    def check_alive(self) -> None:
        for p in self.processes:
            p.check_alive()

    def _ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.pki.path("ca.crt"))
        ctx.load_cert_chain(self.pki.path("admin.crt"), self.pki.path("admin.key"))
        return ctx

    def _http_ok(self, url: str) -> bool:
        context = self._ssl() if url.startswith("https") else None
        with urllib.request.urlopen(url, timeout=10, context=context) as response:
            return response.status == 200

    def _write_kubeconfig(self, path: Path, *, user: dict[str, str]) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "local", "cluster": {"server": self.server, "certificate-authority": self.pki.path("ca.crt")}}
            ],
            "users": [{"name": "user", "user": user}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": "user"}}],
            "current-context": "local",
        }
        path.write_text(yaml.safe_dump(config))

    def token_kubeconfig(self, path: Path, *, namespace: str, service_account: str) -> Path:
        """A kubeconfig that acts as a ServiceAccount: what a pod of it could do, RBAC and all."""
        token = self.kubectl("create", "token", service_account, "-n", namespace, "--duration=2h").stdout.strip()
        self._write_kubeconfig(path, user={"token": token})
        return path

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        kubeconfig: Path | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        """``timeout`` bounds the process; keep it above any ``--timeout`` given to kubectl itself."""
        cmd = [str(tool("kubectl")), f"--kubeconfig={kubeconfig or self.kubeconfig}", *args]
        result = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(tool("helm")), f"--kubeconfig={self.kubeconfig}", *args]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result


@contextlib.contextmanager
def operator_process(
    kubeconfig: Path, log: Path, *, namespaces: Sequence[str] = (), extra_env: dict[str, str] | None = None
) -> Iterator[Process]:
    """The operator as its Deployment runs it (``kopf run``), outside the cluster, with the given identity."""
    scope = [f"--namespace={ns}" for ns in namespaces] or ["--all-namespaces"]
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KOPFKA_RESYNC_SECONDS": "3", **(extra_env or {})}
    proc = Process(
        "operator",
        [
            sys.executable,
            "-m",
            "kopf",
            "run",
            "--standalone",
            "--module=kafka_operator.handlers",
            "--verbose",
            *scope,
        ],
        log,
    )
    proc.start(env=env)
    try:
        yield proc
    finally:
        proc.stop()
