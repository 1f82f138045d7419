"""A rate measured over sampled windows, and how long a throttle brings it back under a bound: Kafka's ``Rate``
over a ``WindowedSum`` and ``QuotaUtils.throttleTime``, shared by client quotas
(:mod:`kafka_broker.cluster.client_quotas`) and replication throttles
(:mod:`kafka_broker.cluster.replication_quota`).

A :class:`Rate` keeps ``samples`` windows of ``window_ms`` each (one more, as Kafka does, since the oldest may
overlap the start of the measured time). A record goes into the current sample; a new one starts when the
current is a window old; samples with no record for ``samples * window_ms`` are reset. The rate is the sum of
the samples divided by the time since the oldest sample started, counted as at least ``samples - 1`` whole
windows, so a burst right after a quiet spell is not measured over a few milliseconds (:class:`SimpleRate`,
for replication throttles, counts at least one window). Recording that takes the rate ``O`` above a bound
``T`` calls for the delay that brings it back if nothing more is recorded: ``(O - T) / T * W`` over the rate's
window ``W``, rounded half up.
"""

from __future__ import annotations

import math

__all__ = ["Rate", "SimpleRate", "throttle_time_ms"]


class _Sample:
    __slots__ = ("event_count", "last_event_ms", "start_ms", "value")

    def __init__(self, now_ms: float) -> None:
        self.reset(now_ms)

    def reset(self, now_ms: float) -> None:
        self.value = 0.0
        self.event_count = 0
        self.start_ms = now_ms
        self.last_event_ms = now_ms


class Rate:
    """A rate per second of what is recorded, over ``samples`` windows of ``window_ms`` (Kafka's ``Rate``
    over a ``WindowedSum``; see the module docstring)."""

    __slots__ = ("_current", "_samples", "num_samples", "window_ms")

    def __init__(self, *, samples: int, window_ms: int) -> None:
        self.num_samples = samples
        self.window_ms = window_ms
        self._samples: list[_Sample] = []
        self._current = 0

    def record(self, value: float, now_ms: float) -> None:
        sample = self._current_sample(now_ms)
        if now_ms - sample.start_ms >= self.window_ms:
            sample = self._advance(now_ms)
        sample.value += value
        sample.event_count += 1
        sample.last_event_ms = now_ms

    def _current_sample(self, now_ms: float) -> _Sample:
        if not self._samples:
            self._samples.append(_Sample(now_ms))
        return self._samples[self._current]

    def _advance(self, now_ms: float) -> _Sample:
        # one sample more than configured: the oldest may overlap the start of the window
        self._current = (self._current + 1) % (self.num_samples + 1)
        if self._current >= len(self._samples):
            sample = _Sample(now_ms)
            self._samples.append(sample)
            return sample
        sample = self._samples[self._current]
        sample.reset(now_ms)
        return sample

    def _purge(self, now_ms: float) -> None:
        expire_age = self.num_samples * self.window_ms
        for sample in self._samples:
            if now_ms - sample.last_event_ms >= expire_age:
                sample.reset(now_ms)

    def window_size_ms(self, now_ms: float) -> float:
        """The time the rate is measured over: since the oldest sample began, at least ``samples - 1`` windows."""
        self._purge(now_ms)
        if not self._samples:
            self._samples.append(_Sample(now_ms))
        elapsed = now_ms - min(sample.start_ms for sample in self._samples)
        full_windows = int(elapsed // self.window_ms)
        if full_windows < self.num_samples - 1:
            elapsed += (self.num_samples - 1 - full_windows) * self.window_ms
        return max(elapsed, 1.0)

    def measure(self, now_ms: float) -> float:
        """Units per second."""
        self._purge(now_ms)
        total = sum(sample.value for sample in self._samples)
        return total / (self.window_size_ms(now_ms) / 1000)


def throttle_time_ms(rate: Rate, bound: float, now_ms: float) -> int:
    """How long until ``rate`` is back at ``bound`` if nothing more is recorded (0 if it is not above it)."""
    value = rate.measure(now_ms)
    if value <= bound:
        return 0
    return math.floor((value - bound) / bound * rate.window_size_ms(now_ms) + 0.5)


class SimpleRate(Rate):
    """Kafka's ``SimpleRate``, which replication throttles use: the time since the oldest sample began, at
    least one window (not ``samples - 1``), so a throttle lets about one window's worth through at once
    rather than ``samples - 1`` windows' worth, and replication keeps close to the rate from the start."""

    __slots__ = ()

    def window_size_ms(self, now_ms: float) -> float:
        self._purge(now_ms)
        if not self._samples:
            self._samples.append(_Sample(now_ms))
        elapsed = now_ms - min(sample.start_ms for sample in self._samples)
        return max(elapsed, float(self.window_ms))
