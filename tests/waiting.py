"""The one way tests wait: poll a condition until it holds, never sleep for a fixed time.

``timeout`` is only an upper bound (make it generous: a loaded 2-core CI machine is slow); the wait ends
as soon as the condition holds. An exception from the condition counts as "not yet" (a broker restarting,
a topic one broker does not know yet), and the last one is reported if time runs out. ``alive`` names
processes (anything with ``check_alive()``) whose death should fail the wait at once instead of at the
timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Process(Protocol):
    def check_alive(self) -> None: ...


def wait_for(
    condition: Callable[[], T],
    *,
    timeout: float = 120,
    interval: float = 0.2,
    what: str = "condition",
    alive: Iterable[Process] = (),
) -> T:
    """Poll ``condition`` until it returns something truthy, and return that; TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        for process in alive:
            process.check_alive()
        try:
            last = condition()
            if last:
                return last
        except Exception as exc:
            last = exc
        if time.monotonic() > deadline:
            error = TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
            if isinstance(last, BaseException):
                raise error from last
            raise error
        time.sleep(interval)
