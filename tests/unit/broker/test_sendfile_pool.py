"""SendfilePool: a worker thread finishes a transfer the event loop started — every byte, in order —
and gives up promptly, closing its descriptor, when the connection closes under it."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time

from kafka_broker.sendfile_pool import POLL_INTERVAL_MS, SendfilePool

DATA = os.urandom(3 << 20)


def _open_fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


def _pair(tmp_path) -> tuple[socket.socket, socket.socket, int]:
    path = tmp_path / "segment.log"
    path.write_bytes(DATA)
    sender, receiver = socket.socketpair()
    sender.setblocking(False)
    sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    return sender, receiver, os.open(path, os.O_RDONLY)


def test_sends_the_whole_range_and_closes_its_duplicate(tmp_path) -> None:
    sender, receiver, file_fd = _pair(tmp_path)
    pool = SendfilePool(2)
    received = bytearray()

    def read() -> None:
        while len(received) < len(DATA) - 1000:
            chunk = receiver.recv(1 << 20)
            if not chunk:
                return
            received.extend(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    before = _open_fds()
    try:
        sent = asyncio.run(pool.send(sender.fileno(), file_fd, 1000, len(DATA) - 1000, lambda: False))
        reader.join(10)
        assert sent == len(DATA) - 1000
        assert bytes(received) == DATA[1000:]
        assert _open_fds() <= before, "the worker's duplicate descriptor was left open"
    finally:
        pool.shutdown()
        sender.close()
        receiver.close()
        os.close(file_fd)


def test_stops_when_the_connection_closes(tmp_path) -> None:
    sender, receiver, file_fd = _pair(tmp_path)  # nobody reads: the socket stays full
    pool = SendfilePool(1)
    closing = threading.Event()
    before = _open_fds()

    async def main() -> tuple[int, float]:
        transfer = asyncio.ensure_future(pool.send(sender.fileno(), file_fd, 0, len(DATA), closing.is_set))
        await asyncio.sleep(0.2)
        assert not transfer.done(), "the whole file fit in the socket: the test proves nothing"
        closing.set()
        started = time.monotonic()
        sent = await transfer
        return sent, time.monotonic() - started

    try:
        sent, waited = asyncio.run(main())
        assert 0 < sent < len(DATA)
        assert waited < 2 * POLL_INTERVAL_MS / 1000 + 0.5
        assert _open_fds() <= before
    finally:
        pool.shutdown()
        sender.close()
        receiver.close()
        os.close(file_fd)


def test_a_reset_connection_ends_the_transfer(tmp_path) -> None:
    sender, receiver, file_fd = _pair(tmp_path)
    pool = SendfilePool(1)

    async def main() -> int:
        transfer = asyncio.ensure_future(pool.send(sender.fileno(), file_fd, 0, len(DATA), lambda: False))
        await asyncio.sleep(0.1)
        receiver.close()  # unread data: the peer resets the connection
        return await asyncio.wait_for(transfer, 5)

    try:
        assert asyncio.run(main()) < len(DATA)
    finally:
        pool.shutdown()
        sender.close()
        os.close(file_fd)
