"""A well-behaved producer that runs through a hostile test, and the check that it lost nothing.

While a test throws malformed batches, floods, pauses or outages at the brokers, a :class:`Witness`
produces numbered records in a background thread the way a careful application does — confluent-kafka
(librdkafka), ``acks=all``, idempotent, retrying for as long as a record's timeout allows — at a gentle
steady rate (200 records/s by default; the machine is shared). Every record it sends is unique (its key
and value name the witness, partition and sequence number, and it carries a header). Afterwards,
:meth:`Witness.verify` reads the topic back from the beginning to each partition's high watermark with a
confluent-kafka consumer and fails if any record whose delivery was acknowledged is missing, is not at
the offset its acknowledgement gave, differs in key, value or header, or appears twice. Records that were
never acknowledged (their delivery failed) may or may not be there.

Usage (the topic must exist; ``tests.integration.admin.create_topic`` makes one)::

    with Witness(cluster.bootstrap_servers, "witness", partitions=[0, 1]) as witness:
        witness.wait_acknowledged(50)    # it is flowing
        ...                              # the hostile part of the test
        witness.wait_acknowledged(50)    # and still flowing afterwards
    witness.verify()                     # stops it if still running; raises AssertionError on a loss

Security settings in ``config`` (``security.protocol``, ``ssl.*``, ``sasl.*``) serve the read-back too, so a
witness may write over a secured listener.

``acknowledged`` counts acknowledged records, ``failures`` lists delivery errors (not losses: librdkafka
gave up on those records), ``fatal`` holds a fatal producer error (an idempotence violation), which
:meth:`verify` reports as a failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from tests.waiting import wait_for

__all__ = ["Witness", "WitnessReport"]

HEADER = "witness"


@dataclass(frozen=True)
class WitnessReport:
    acknowledged: int
    """Records whose delivery was acknowledged (all found, in place)."""
    read: int
    """Records read back from the witness's partitions (including ones never acknowledged)."""
    failed: int
    """Records whose delivery failed (allowed to be missing)."""


@dataclass(frozen=True)
class _Sent:
    key: bytes
    value: bytes


class Witness:
    """Produces numbered records to ``topic``'s ``partitions`` in a background thread; see the module doc.

    ``rate``: records per second (round-robin over the partitions); ``value_size``: bytes per value;
    ``config``: librdkafka settings added to (or overriding) the careful defaults below.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        partitions: Iterable[int] = (0,),
        rate: float = 200.0,
        value_size: int = 64,
        name: str = "witness",
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.bootstrap, self.topic, self.name = bootstrap, topic, name
        self.partitions = list(partitions)
        self.interval = 1.0 / rate
        self.value_size = value_size
        self.config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "message.timeout.ms": 120_000,
            "retry.backoff.ms": 100,
            "topic.metadata.refresh.interval.ms": 1000,
            **(config or {}),
        }
        self._lock = threading.Lock()
        self._sent: dict[tuple[int, int], _Sent] = {}  # (partition, sequence) → what was sent
        self._acked: dict[int, dict[int, int]] = {p: {} for p in self.partitions}  # partition → offset → sequence
        self._acknowledged = 0
        self.failures: list[str] = []
        self.fatal: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- running -------------------------------------------------------------------------------------

    def start(self) -> Witness:
        if self._thread is not None:
            raise RuntimeError("a witness starts once")
        self._thread = threading.Thread(target=self._run, name=f"witness-{self.name}", daemon=True)
        self._thread.start()
        return self

    def __enter__(self) -> Witness:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def acknowledged(self) -> int:
        return self._acknowledged

    def wait_acknowledged(self, more: int = 50, *, timeout: float = 120) -> None:
        """Until ``more`` records beyond those acknowledged so far are acknowledged: the stream flows."""
        target = self._acknowledged + more
        wait_for(lambda: self._acknowledged >= target or self.fatal, timeout=timeout,
                 what=f"{target} acknowledged witness records (have {self._acknowledged}, "
                      f"failures {self.failures[:3]})")
        assert self.fatal is None, f"the witness's producer failed fatally: {self.fatal}"

    def stop(self, *, timeout: float = 180) -> None:
        """Stop producing and wait (up to ``timeout``) for the records in flight to be acknowledged or fail."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"the witness did not finish within {timeout:.0f}s")

    def _run(self) -> None:
        producer = Producer({**self.config, "error_cb": self._on_error})
        sequence = 0
        next_at = time.monotonic()
        while not self._stop.is_set() and self.fatal is None:
            partition = self.partitions[sequence % len(self.partitions)]
            key = f"{self.name}-{partition}-{sequence}".encode()
            value = (key + b":").ljust(self.value_size, b"w")
            with self._lock:
                self._sent[(partition, sequence)] = _Sent(key, value)
            try:
                producer.produce(self.topic, key=key, value=value, partition=partition,
                                 headers=[(HEADER, str(sequence).encode())],
                                 on_delivery=self._delivered(partition, sequence))
                sequence += 1
            except BufferError:
                with self._lock:
                    del self._sent[(partition, sequence)]
            next_at = max(next_at + self.interval, time.monotonic() - self.interval)  # no burst after a stall
            while (remaining := next_at - time.monotonic()) > 0 and not self._stop.is_set():
                producer.poll(remaining)  # serves delivery reports; returns early when it has some
        producer.flush(self.config["message.timeout.ms"] / 1000 + 30)

    def _delivered(self, partition: int, sequence: int) -> Any:
        def report(err: KafkaError | None, msg: Any) -> None:
            with self._lock:
                if err is not None:
                    self.failures.append(f"{partition}-{sequence}: {err}")
                    return
                self._acked[partition][msg.offset()] = sequence
                self._acknowledged += 1

        return report

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self.fatal = str(err)

    # -- checking ------------------------------------------------------------------------------------

    def verify(self, *, timeout: float = 120) -> WitnessReport:
        """Stop (if running), read every partition back, and fail on any acknowledged record lost or changed."""
        self.stop()
        assert self.fatal is None, f"the witness's producer failed fatally: {self.fatal}"
        security = {k: v for k, v in self.config.items() if k.startswith(("security.", "ssl.", "sasl."))}
        stored = _read_back(self.bootstrap, self.topic, self.partitions, timeout=timeout, security=security)
        problems: list[str] = []
        with self._lock:
            for partition in self.partitions:
                log = stored[partition]
                seen: dict[bytes, list[int]] = {}
                for offset, (key, _value, _headers) in log.items():
                    seen.setdefault(key, []).append(offset)
                for offset, sequence in sorted(self._acked[partition].items()):
                    sent = self._sent[(partition, sequence)]
                    found = log.get(offset)
                    if found is None:
                        where = seen.get(sent.key)
                        problems.append(f"{self.topic}-{partition}: acknowledged record {sequence} at offset {offset} "
                                        f"is missing" + (f" (found at {where})" if where else ""))
                    elif found != (sent.key, sent.value, ((HEADER, str(sequence).encode()),)):
                        problems.append(f"{self.topic}-{partition}: offset {offset} holds {found!r}, "
                                        f"acknowledged as record {sequence}")
                    elif len(seen[sent.key]) > 1:
                        problems.append(f"{self.topic}-{partition}: record {sequence} is stored twice, at "
                                        f"{seen[sent.key]}")
            failed = len(self.failures)
            acknowledged = self._acknowledged
        assert not problems, f"the witness lost {len(problems)} acknowledged records:\n" + "\n".join(problems[:20])
        return WitnessReport(acknowledged, sum(len(log) for log in stored.values()), failed)


def _read_back(
    bootstrap: str, topic: str, partitions: list[int], *, timeout: float, security: Mapping[str, Any]
) -> dict[int, dict[int, tuple[bytes, bytes, tuple[tuple[str, bytes], ...]]]]:
    """partition → offset → (key, value, headers), everything up to the high watermarks as of now."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "witness-verify", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", **security})
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=60)[1] for p in partitions}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        out: dict[int, dict[int, tuple[bytes, bytes, tuple[tuple[str, bytes], ...]]]] = {p: {} for p in partitions}
        position = dict.fromkeys(partitions, 0)
        deadline = time.monotonic() + timeout
        while any(position[p] < ends[p] for p in partitions):
            assert time.monotonic() < deadline, f"read the witness topic to {position}, its ends are {ends}"
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, f"reading the witness topic back: {msg.error()}"
            out[msg.partition()][msg.offset()] = (msg.key(), msg.value(), tuple(msg.headers() or ()))
            position[msg.partition()] = msg.offset() + 1
        return out
    finally:
        consumer.close()
