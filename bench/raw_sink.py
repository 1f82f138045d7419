"""The machine's limit for what a broker does: bytes in from a socket, appended to a file; the file out again.

A minimal server with none of a broker's work (no protocol, no validation, no offsets, no indexes):

* ``P`` connections send frames ``int32 size | payload``; each payload is appended to the sink file
  with ``os.write`` (no fsync: the same flush policy as the brokers' defaults) and acknowledged
  with the 4-byte total written so far — the raw form of acks=1 produce. The client keeps a window of
  frames in flight, as a producer pipelines requests.
* ``C`` connections get the whole file with ``os.sendfile`` — the raw form of a consumer reading the
  log from the beginning — and the server closes the connection.

One blocking thread per connection: this is the ceiling a Python process reaches on this machine
(``/work/shared/ENVIRONMENT.md``), not an asyncio design. :func:`produce` and :func:`consume` are
the client side, used by ``bench/compare.py``, which runs the server as its own process
(``python bench/raw_sink.py FILE`` prints ``raw sink on HOST:PORT``; the file starts empty).
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

SIZE = struct.Struct(">i")
ACK = struct.Struct(">q")
WINDOW = 8


def _recv_exactly(conn: socket.socket, view: memoryview) -> bool:
    got = 0
    while got < len(view):
        n = conn.recv_into(view[got:])
        if n == 0:
            return False
        got += n
    return True


class RawSink:
    """Serves one sink file on a loopback port until :meth:`close`; see the module docstring."""

    def __init__(self, path: Path, host: str = "127.0.0.1") -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        self._written = 0
        self._server = socket.create_server((host, 0))
        self.address = self._server.getsockname()[:2]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            mode = conn.recv(1)
            if mode == b"P":
                self._ingest(conn)
            elif mode == b"C":
                self._serve_file(conn)

    def _ingest(self, conn: socket.socket) -> None:
        head = bytearray(4)
        buf = bytearray(1 << 20)
        while _recv_exactly(conn, memoryview(head)):
            (size,) = SIZE.unpack(head)
            if size > len(buf):
                buf = bytearray(size)
            view = memoryview(buf)[:size]
            if not _recv_exactly(conn, view):
                return
            written = 0
            while written < size:
                written += os.write(self._fd, view[written:])
            self._written += size
            conn.sendall(ACK.pack(self._written))

    def _serve_file(self, conn: socket.socket) -> None:
        size = os.fstat(self._fd).st_size
        conn.sendall(ACK.pack(size))
        position = 0
        fd = conn.fileno()
        while position < size:
            sent = os.sendfile(fd, self._fd, position, size - position)
            if sent == 0:
                break
            position += sent

    def close(self) -> None:
        self._server.close()
        os.close(self._fd)


def produce(
    address: tuple[str, int], frames: Iterable[bytes | memoryview], *, window: int = WINDOW
) -> tuple[int, float]:
    """Send ``frames`` with ``window`` in flight, each acknowledged after its append; (bytes, seconds)."""
    total = 0
    slots = threading.Semaphore(window)
    with socket.create_connection(address) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"P")
        sent = 0
        acked = [0]

        def read_acks() -> None:
            ack = bytearray(ACK.size)
            with contextlib.suppress(OSError):  # the socket closes under us once every frame is in
                while _recv_exactly(sock, memoryview(ack)):
                    acked[0] += 1
                    slots.release()

        start = time.perf_counter()
        reader = threading.Thread(target=read_acks, daemon=True)
        reader.start()
        for frame in frames:
            slots.acquire()
            sock.sendall(SIZE.pack(len(frame)))
            sock.sendall(frame)
            total += len(frame)
            sent += 1
        for _ in range(window):
            slots.acquire()
        elapsed = time.perf_counter() - start
        if acked[0] != sent:
            raise RuntimeError(f"raw sink acknowledged {acked[0]} of {sent} frames")
    return total, elapsed


def consume(address: tuple[str, int]) -> tuple[int, float]:
    """Read the whole sink file back; (bytes, seconds)."""
    buf = bytearray(4 << 20)
    view = memoryview(buf)
    with socket.create_connection(address) as sock:
        start = time.perf_counter()
        sock.sendall(b"C")
        head = bytearray(ACK.size)
        if not _recv_exactly(sock, memoryview(head)):
            raise RuntimeError("raw sink closed the connection")
        (size,) = ACK.unpack(head)
        got = 0
        while got < size:
            n = sock.recv_into(view)
            if n == 0:
                break
            got += n
        elapsed = time.perf_counter() - start
    if got != size:
        raise RuntimeError(f"read {got} of {size} bytes from the raw sink")
    return got, elapsed


def file_frames(paths: Iterable[Path], frame_bytes: int = 1 << 20) -> list[bytes]:
    """The bytes of ``paths`` in frames of ``frame_bytes`` (read before timing starts)."""
    frames = []
    for path in paths:
        with path.open("rb") as f:
            while chunk := f.read(frame_bytes):
                frames.append(chunk)
    return frames


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    sink = RawSink(Path(args[0] if args else "raw-sink.bin"))
    print(f"raw sink on {sink.address[0]}:{sink.address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    sink.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
