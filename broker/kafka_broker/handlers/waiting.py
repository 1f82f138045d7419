"""Waiting for the metadata cache to reach a condition, for admin requests that answer only
once their change has taken effect (a topic created with leaders, a topic gone)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

POLL_SECONDS = 0.02


async def wait_until(condition: Callable[[], bool], *, timeout_ms: int) -> bool:
    """True once ``condition()`` holds, False if ``timeout_ms`` passes first. A ``timeout_ms`` of 0 or
    less asks not to wait at all: True at once, as Kafka answers such a request (success, no waiting).

    The cache changes only on the event loop, so polling it is cheap; admin requests are rare.
    """
    if timeout_ms <= 0:
        return True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_ms / 1000
    while not condition():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(POLL_SECONDS)
    return True
