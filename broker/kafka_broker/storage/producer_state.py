"""Idempotent-producer state of one partition: per producer id its epoch and its last five batches.

Everything comes from batch headers (producer id, epoch, base sequence, offset delta); records are
never decoded. A batch covers sequences ``first_seq .. last_seq`` where ``last_seq = first_seq +
last_offset_delta`` wrapping past int32 max to 0, exactly as the client numbers them.

Leader append (:meth:`ProducerStateManager.check`), per batch with a producer id, in Kafka's order:

1. epoch lower than the producer's known epoch → INVALID_PRODUCER_EPOCH (Kafka ≥ 2.7 answers Produce
   with this code, KIP-588; PRODUCER_FENCED is for the transactional APIs, which we do not serve);
2. same epoch and ``(first_seq, last_seq)`` equal to one of the producer's last five batches → a
   duplicate (a retry of a batch already written): the append is answered with the original offsets
   and nothing is written (modern brokers' handling of DUPLICATE_SEQUENCE_NUMBER);
3. a newer epoch must start at sequence 0 (else OUT_OF_ORDER_SEQUENCE_NUMBER); its old batches are
   forgotten;
4. same epoch: ``first_seq`` must be ``last_seq + 1`` of the newest batch (0 after int32 max), else
   OUT_OF_ORDER_SEQUENCE_NUMBER;
5. an unknown producer id is accepted at any sequence — modern Kafka (KIP-360, 2.5+) does so because
   the state may legitimately be gone (retention, DeleteRecords, compaction); the producer then
   continues from there. Older brokers answered UNKNOWN_PRODUCER_ID, which clients now treat as a
   reason to reset.

Batches of one append are checked against the state as updated by the batches before them.
After the append :meth:`update` records each batch with its final offsets; followers call it for
what they replicate (no checks: the leader has checked), so a follower promoted to leader already
knows every producer. On log load and after a truncation the state is rebuilt by feeding every
batch header of the log, oldest first, to :meth:`update`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from kafka_broker.protocol.errors import ErrorCode, KafkaError
from kafka_broker.storage.records import BatchHeader

INT32_MAX = 2**31 - 1
NO_SEQUENCE = -1
NO_EPOCH = -1
BATCHES_KEPT = 5
"""How many recent batches per producer are remembered for duplicate detection (the client's max in-flight)."""


def last_sequence(first_seq: int, last_offset_delta: int) -> int:
    """The sequence of a batch's last record: ``first_seq + delta``, wrapping to 0 after int32 max."""
    if first_seq > INT32_MAX - last_offset_delta:
        return last_offset_delta - (INT32_MAX - first_seq) - 1
    return first_seq + last_offset_delta


def next_in_sequence(last_seq: int, first_seq: int) -> bool:
    return first_seq == last_seq + 1 or (first_seq == 0 and last_seq == INT32_MAX)


class BatchMetadata(NamedTuple):
    """Where one producer batch landed."""

    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int


@dataclass(slots=True)
class ProducerEntry:
    """One producer's epoch and its most recent batches (newest last)."""

    epoch: int = NO_EPOCH
    batches: deque[BatchMetadata] = field(default_factory=lambda: deque(maxlen=BATCHES_KEPT))
    last_timestamp: int = -1
    """The max timestamp of the producer's newest batch in the log (DescribeProducers answers it)."""

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else NO_SEQUENCE

    def find_duplicate(self, first_seq: int, last_seq: int) -> BatchMetadata | None:
        for batch in self.batches:
            if batch.first_seq == first_seq and batch.last_seq == last_seq:
                return batch
        return None

    def copy(self) -> ProducerEntry:
        return ProducerEntry(self.epoch, deque(self.batches, maxlen=BATCHES_KEPT), self.last_timestamp)


class ProducerStateManager:
    """Producer id → :class:`ProducerEntry` for one partition; see the module docstring."""

    def __init__(self) -> None:
        self.producers: dict[int, ProducerEntry] = {}

    def __len__(self) -> int:
        return len(self.producers)

    def get(self, producer_id: int) -> ProducerEntry | None:
        return self.producers.get(producer_id)

    def clear(self) -> None:
        self.producers.clear()

    # -- leader side -----------------------------------------------------------------------------

    def check(self, headers: Iterable[BatchHeader]) -> BatchMetadata | None:
        """Validate the producer batches of one append (offsets not yet assigned).

        Returns the original placement when the append is a retry of batches already written (a
        duplicate: append nothing, answer these offsets); raises KafkaError with
        INVALID_PRODUCER_EPOCH or OUT_OF_ORDER_SEQUENCE_NUMBER; None when the append may go ahead.
        """
        pending: dict[int, ProducerEntry] = {}
        for header in headers:
            pid = header.producer_id
            if pid < 0:
                continue
            entry = pending.get(pid)
            if entry is None:
                known = self.producers.get(pid)
                entry = known.copy() if known is not None else ProducerEntry()
                pending[pid] = entry
            epoch, first_seq = header.producer_epoch, header.base_sequence
            last_seq = last_sequence(first_seq, header.last_offset_delta)
            if entry.epoch != NO_EPOCH and epoch < entry.epoch:
                raise KafkaError(
                    f"producer {pid} epoch {epoch} is older than the current epoch {entry.epoch}",
                    code=ErrorCode.INVALID_PRODUCER_EPOCH,
                )
            if epoch == entry.epoch:
                duplicate = entry.find_duplicate(first_seq, last_seq)
                if duplicate is not None:
                    if duplicate.first_offset < 0:  # repeated inside this very append
                        raise KafkaError(
                            f"producer {pid} sent sequences {first_seq}..{last_seq} twice in one request",
                            code=ErrorCode.DUPLICATE_SEQUENCE_NUMBER,
                        )
                    return duplicate
                if entry.batches and not next_in_sequence(entry.last_seq, first_seq):
                    raise KafkaError(
                        f"out of order sequence for producer {pid} at epoch {epoch}: "
                        f"{first_seq} does not follow {entry.last_seq}",
                        code=ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                    )
            elif entry.epoch != NO_EPOCH and first_seq != 0:
                raise KafkaError(
                    f"producer {pid} starts epoch {epoch} at sequence {first_seq}, expected 0",
                    code=ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                )
            if epoch != entry.epoch:
                entry.epoch = epoch
                entry.batches.clear()
            # offsets are not known yet: -1 placeholders, only the sequences matter for the next batch
            entry.batches.append(BatchMetadata(first_seq, last_seq, -1, -1))
        return None

    # -- every append, leader and follower; rebuild ------------------------------------------------

    def update(self, headers: Iterable[BatchHeader]) -> None:
        """Record appended batches (final offsets) of producers; other batches are ignored."""
        for header in headers:
            pid = header.producer_id
            if pid < 0 or header.is_control:
                continue
            entry = self.producers.get(pid)
            if entry is None:
                entry = self.producers[pid] = ProducerEntry()
            epoch = header.producer_epoch
            if epoch != entry.epoch:
                if epoch < entry.epoch:  # replicated from a fenced leader's time; keep the newer epoch
                    continue
                entry.epoch = epoch
                entry.batches.clear()
            first_seq = header.base_sequence
            entry.last_timestamp = header.max_timestamp
            entry.batches.append(
                BatchMetadata(
                    first_seq,
                    last_sequence(first_seq, header.last_offset_delta),
                    header.base_offset,
                    header.last_offset,
                )
            )

    def rebuild(self, headers: Iterable[BatchHeader]) -> None:
        """Forget everything and replay ``headers`` (every batch of the log, oldest first)."""
        self.producers.clear()
        self.update(headers)
