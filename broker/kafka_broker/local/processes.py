"""Small helpers for child processes: free loopback ports, stopping with a deadline, reading log tails.

Kept apart from the cluster so that ZooKeeper, kopfka brokers and Apache Kafka brokers (bench/) are
started and stopped by the same, tested code.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from collections import deque
from pathlib import Path

# Ports handed out by this process: binding to port 0 and closing leaves a window in which another
# free_port() call could get the same number back; remembering them closes that window within a process.
_handed_out: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` now (the caller binds it soon after)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free TCP port found on {host}")


def stop_process(proc: subprocess.Popen[bytes], *, timeout: float, sig: int | None = signal.SIGTERM) -> int:
    """Send `sig` (None: it was sent already), wait up to `timeout` seconds, then SIGKILL; returns the
    exit code."""
    if proc.poll() is None:
        try:
            if sig is not None:
                proc.send_signal(sig)
                proc.send_signal(signal.SIGCONT)  # a process paused with SIGSTOP must see `sig` too
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def log_tail(path: Path, *, lines: int = 40) -> str:
    """The last `lines` lines of a log file, or a note that it does not exist; for error messages."""
    try:
        with path.open("rb") as f:
            tail = deque(f, maxlen=lines)
    except FileNotFoundError:
        return f"(no log file at {path})"
    return b"".join(tail).decode("utf-8", errors="replace")
