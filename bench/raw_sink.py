"""The machine's limit for what a broker does: bytes in from a socket, appended to a file; the file out again.

A minimal server with none of a broker's work (no protocol, no validation, no offsets, no indexes):

* ``P`` connections send frames ``int32 size | payload``; each payload is appended to the sink file
  with ``os.write`` (no fsync: the same flush policy as the brokers' defaults) and acknowledged
  with the 4-byte total written so far — the raw form of acks=1 produce. The client keeps a window of
  frames in flight, as a producer pipelines requests.
* ``R`` connections ask for byte ranges (int64 position, int64 length) of the file, each answered
  with its size and the bytes by ``os.sendfile``, for as long as the client asks — the raw form of a
  consumer reading the log: a reader can use as many parallel streams as a cluster has leaders, each
  re-reading its range over one connection in answers as large as a Fetch response, as the fetch
  reader re-reads a topic.

One blocking thread per connection: this is the ceiling a Python process reaches on this machine
(``/work/shared/ENVIRONMENT.md``), not an asyncio design. :func:`produce` and :func:`read_back` are
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
SEND_BUFFER_BYTES = 102400
ACK = struct.Struct(">q")
RANGE = struct.Struct(">qq")
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
            elif mode == b"R":
                # the brokers' send buffer (Kafka's socket.send.buffer.bytes): an autotuned one costs
                # the kernel more than twice the CPU per byte sent here, which would lower the limit
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
                head = bytearray(RANGE.size)
                while _recv_exactly(conn, memoryview(head)):
                    self._serve_file(conn, *RANGE.unpack(head))

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

    def _serve_file(self, conn: socket.socket, position: int, length: int) -> None:
        size = os.fstat(self._fd).st_size
        end = min(size, position + length)
        conn.sendall(ACK.pack(max(0, end - position)))
        fd = conn.fileno()
        while position < end:
            sent = os.sendfile(fd, self._fd, position, end - position)
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


def read_back(
    address: tuple[str, int], *, size: int, streams: int = 1, answer_bytes: int = 8 << 20, min_seconds: float = 2.0
) -> float:
    """Seconds per read of the whole ``size``-byte sink file: ``streams`` threads, one connection each,
    read equal ranges of it again and again for ``min_seconds``, in answers of at most ``answer_bytes``
    each received whole into one reused buffer — as the fetch reader receives a Fetch response (a
    reader that overwrote one small buffer would keep its copies in the CPU cache, which no consumer
    can); the wall time from the first request to the last byte divided by the passes made."""
    step = -(-size // max(1, streams))
    ranges = [(start, min(step, size - start)) for start in range(0, size, step)] or [(0, 0)]
    results: list[tuple[int, float, float]] = []
    errors: list[BaseException] = []

    def read(position: int, length: int) -> None:
        try:
            view = memoryview(bytearray(max(1, min(answer_bytes, length))))
            pieces = [(p, min(len(view), position + length - p)) for p in range(position, position + length, len(view))]
            with socket.create_connection(address) as sock:
                sock.sendall(b"R")
                start = time.perf_counter()
                total = passes = 0
                while not passes or time.perf_counter() - start < min_seconds:
                    passes += 1
                    for piece in pieces:
                        sock.sendall(RANGE.pack(*piece))
                        got = _read_answer(sock, view)
                        if got != piece[1]:
                            raise RuntimeError(f"read {got} of {piece[1]} bytes from the raw sink")
                        total += got
                results.append((total, start, time.perf_counter()))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=read, args=r) for r in ranges]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"a raw read stream failed: {errors[0]!r}") from errors[0]
    total = sum(r[0] for r in results)
    wall = max(r[2] for r in results) - min(r[1] for r in results)
    return wall * size / total if total else wall


def _read_answer(sock: socket.socket, view: memoryview) -> int:
    """One answer: its 8-byte size, then that many bytes, received whole into ``view``; the size."""
    head = bytearray(ACK.size)
    if not _recv_exactly(sock, memoryview(head)):
        raise RuntimeError("raw sink closed the connection")
    (size,) = ACK.unpack(head)
    if size > len(view) or not _recv_exactly(sock, view[:size]):
        raise RuntimeError(f"raw sink answered {size} bytes for a {len(view)}-byte range")
    return size


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
