"""Large sendfile transfers on a few threads (Kafka's ``num.network.threads``), off the event loop.

A socket's send buffer holds about 100 KB (``socket.send.buffer.bytes``), so a multi-megabyte log
slice goes out in a hundred non-blocking ``sendfile`` calls, each followed by a wait for the socket
to drain. On the event loop every one of those waits is a future, a writer watch and a task wake-up:
measured here, about 8 µs of Python per 100 KB, nearly as much CPU as the kernel's copying. A worker
thread instead alternates ``poll`` and ``sendfile``, both with the GIL released, and the transfers
of different connections run on different cores, as in Kafka's network threads.

The worker sends through its own duplicate of the socket's descriptor, so a connection closed
meanwhile can never make it write to a descriptor number the process has since reused; it stops
as soon as the connection or the pool is closing (checked at least every ``POLL_INTERVAL_MS``).
"""

from __future__ import annotations

import asyncio
import os
import select
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

POLL_INTERVAL_MS = 100
THREADED_MIN_BYTES = 256 * 1024
"""A transfer with less left than this when the socket first fills is finished on the event loop:
a thread hand-off costs more than a few waits."""


class SendfilePool:
    """Threads that finish ``sendfile`` transfers the event loop started."""

    def __init__(self, threads: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sendfile")
        self._stopping = False

    async def send(
        self, sock_fd: int, file_fd: int, position: int, remaining: int, closing: Callable[[], bool]
    ) -> int:
        """Send ``remaining`` bytes of ``file_fd`` from ``position`` to the socket; the bytes sent (fewer
        only when the connection failed or closed meanwhile)."""
        fd = os.dup(sock_fd)
        try:
            future = asyncio.get_running_loop().run_in_executor(
                self._executor, self._send_blocking, fd, file_fd, position, remaining, closing
            )
        except BaseException:
            os.close(fd)
            raise
        return await future

    def _send_blocking(
        self, fd: int, file_fd: int, position: int, remaining: int, closing: Callable[[], bool]
    ) -> int:
        sent_total = 0
        try:
            poller = select.poll()
            poller.register(fd, select.POLLOUT)
            while remaining and not self._stopping and not closing():
                try:
                    sent = os.sendfile(fd, file_fd, position, remaining)
                except (BlockingIOError, InterruptedError):
                    for _, events in poller.poll(POLL_INTERVAL_MS):
                        if events & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
                            return sent_total
                    continue
                except OSError:
                    return sent_total
                if sent == 0:
                    return sent_total
                position += sent
                remaining -= sent
                sent_total += sent
            return sent_total
        finally:
            os.close(fd)

    def shutdown(self) -> None:
        """Stop every transfer at its next step and let the threads go."""
        self._stopping = True
        self._executor.shutdown(wait=False)  # queued transfers still run, to close their descriptors
