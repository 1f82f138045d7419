"""Log compaction: latest value per key, tombstones and delete.retention.ms, the active segment left alone,
offsets preserved, crash recovery mid-swap, and a hypothesis model of the whole thing."""

from __future__ import annotations

import asyncio
import contextlib
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.unit.storage.helpers import read_all

from kafka_broker.config import CleanerSettings, settings_from
from kafka_broker.storage.cleaner import LogCleaner, build_cleaned
from kafka_broker.storage.log import PartitionLog
from kafka_broker.storage.log_config import LogConfig
from kafka_broker.storage.records import Record, build_batch
from kafka_broker.storage.swap import CLEANED_DIR, RETIRED_SUFFIX, SWAP_SUFFIX

NOW = 10_000_000
DAY = 86_400_000


def config(**overrides) -> LogConfig:
    base = {"cleanup_policy": "compact", "segment_bytes": 600, "min_cleanable_dirty_ratio": 0.01,
            "delete_retention_ms": DAY, "file_delete_delay_ms": 0}
    return LogConfig(**{**base, **overrides})


def kv(key: str, value: str | None, timestamp: int = NOW) -> bytes:
    v = None if value is None else value.encode()
    return build_batch([Record(0, timestamp, key.encode(), v)], base_offset=0)


def write(plog: PartitionLog, items, *, now: int = NOW) -> None:
    for key, value in items:
        plog.append_as_leader(kv(key, value), leader_epoch=0, now_ms=now)


def latest(items) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for key, value in items:
        out[key] = value
    return out


def as_pairs(plog: PartitionLog) -> list[tuple[int, str, str | None]]:
    return [(r.offset, r.key.decode(), None if r.value is None else r.value.decode()) for r in read_all(plog)]


@pytest.fixture
def log(partition_dir):
    plog = PartitionLog(partition_dir, config=config(), now_ms=NOW)
    yield plog
    plog.close()


def test_keeps_only_the_latest_value_of_each_key_and_preserves_offsets(log) -> None:
    items = [(f"k{i % 10}", f"v{i}") for i in range(100)]
    write(log, items)
    log.roll(now_ms=NOW)
    write(log, [("tail", "x")])  # lives in the active segment at the end
    offsets = {value: offset for offset, _k, value in as_pairs(log)}
    cleaner = LogCleaner([log.directory.parent])
    size_before = log.size
    result = cleaner.clean_sync(log, now_ms=NOW)
    assert result is not None and log.size < size_before
    pairs = as_pairs(log)
    expected = latest(items)
    survivors = [(k, v) for _o, k, v in pairs if k != "tail"]
    assert dict(survivors) == expected and len(survivors) == len(expected)
    for offset, _key, value in pairs:
        assert offsets[value] == offset
    assert log.log_end_offset == 101 and log.log_start_offset == 0


def test_never_the_active_segment(log) -> None:
    write(log, [("a", "1"), ("a", "2")])  # both in the active segment
    assert len(log.segments) == 1
    assert LogCleaner([log.directory.parent]).clean_sync(log, now_ms=NOW) is None
    assert [v for _o, _k, v in as_pairs(log)] == ["1", "2"]
    write(log, [(f"k{i}", "x" * 40) for i in range(30)])
    active_before = log.active_segment
    active_bytes = os.pread(active_before.fd, active_before.size, 0)
    LogCleaner([log.directory.parent]).clean_sync(log, now_ms=NOW)
    assert log.active_segment is active_before
    assert os.pread(active_before.fd, active_before.size, 0) == active_bytes


def test_nothing_above_the_high_watermark(log) -> None:
    write(log, [("a", str(i)) for i in range(60)])
    cleaner = LogCleaner([log.directory.parent])
    cleaner.clean_sync(log, high_watermark=0, now_ms=NOW)
    assert len(as_pairs(log)) == 60


def test_dirty_ratio_threshold(partition_dir) -> None:
    plog = PartitionLog(partition_dir, config=config(min_cleanable_dirty_ratio=0.9), now_ms=NOW)
    try:
        write(plog, [(f"k{i % 5}", str(i)) for i in range(60)])
        cleaner = LogCleaner([partition_dir.parent])
        assert cleaner.clean_sync(plog, now_ms=NOW) is not None  # all dirty: ratio 1
        write(plog, [("k1", "new")] * 3)
        assert cleaner.clean_sync(plog, now_ms=NOW) is None  # a little dirt in a clean log
    finally:
        plog.close()


def test_tombstones_stay_for_delete_retention_ms_then_go(log) -> None:
    write(log, [(f"k{i}", "v") for i in range(20)] + [(f"k{i}", None) for i in range(0, 20, 2)])
    write(log, [("x", "y" * 100)] * 10)
    cleaner = LogCleaner([log.directory.parent])
    cleaner.clean_sync(log, now_ms=NOW)
    tombstones = [k for _o, k, v in as_pairs(log) if v is None]
    assert sorted(tombstones) == sorted(f"k{i}" for i in range(0, 20, 2))
    # cleaned again before delete.retention.ms has passed: still there
    cleaner.clean_sync(log, now_ms=NOW + DAY // 2, force=True)
    assert len([1 for _o, _k, v in as_pairs(log) if v is None]) == 10
    # long after the first cleaning: gone, the live keys stay
    write(log, [("x", "z" * 100)] * 10, now=NOW + 2 * DAY)
    cleaner.clean_sync(log, now_ms=NOW + 2 * DAY)
    pairs = as_pairs(log)
    assert not [k for _o, k, v in pairs if v is None]
    assert sorted(k for _o, k, _v in pairs if k.startswith("k")) == sorted(f"k{i}" for i in range(1, 20, 2))


def test_min_compaction_lag(partition_dir) -> None:
    plog = PartitionLog(partition_dir, config=config(min_compaction_lag_ms=1000), now_ms=NOW)
    try:
        write(plog, [("a", str(i)) for i in range(60)])
        cleaner = LogCleaner([partition_dir.parent])
        assert cleaner.clean_sync(plog, now_ms=NOW + 10) is None  # records are too young
        assert cleaner.clean_sync(plog, now_ms=NOW + 2000) is not None
    finally:
        plog.close()


def test_not_for_delete_policy(partition_dir) -> None:
    plog = PartitionLog(partition_dir, config=config(cleanup_policy="delete"), now_ms=NOW)
    try:
        write(plog, [("a", str(i)) for i in range(60)])
        assert LogCleaner([partition_dir.parent]).clean_sync(plog, now_ms=NOW) is None
    finally:
        plog.close()


def test_batches_keep_producer_fields_offsets_and_control_batches(log) -> None:
    pid = 77
    for seq in range(0, 40, 2):
        records = [Record(0, NOW, b"p", b"%d" % seq), Record(1, NOW, b"q%d" % (seq % 4), b"x")]
        log.append_as_leader(build_batch(records, base_offset=0, producer_id=pid, producer_epoch=1,
                                         base_sequence=seq), leader_epoch=0, now_ms=NOW)
    control = build_batch([Record(0, NOW, b"\x00\x00\x00\x01", b"\x00\x00\x00\x00\x00\x00")], base_offset=0,
                          is_control=True)
    log.append_as_leader(control, leader_epoch=0, now_ms=NOW, from_client=False)
    write(log, [("filler", "f" * 200)] * 4)
    before = {pid: list(e.batches) for pid, e in log.producer_state.producers.items()}
    LogCleaner([log.directory.parent]).clean_sync(log, now_ms=NOW)
    headers = [h for s in log.segments for h in s.scan()]
    assert [h.base_offset for h in headers] == sorted(h.base_offset for h in headers)
    assert any(h.is_control for h in headers)
    assert all(h.producer_id == pid and h.producer_epoch == 1 for h in headers if h.base_offset < 40)
    assert all(h.last_offset_delta == 1 for h in headers if h.base_offset < 40)
    log.rebuild_producer_state()
    assert {pid: list(e.batches)[-1] for pid, e in log.producer_state.producers.items()} == {
        pid: b[-1] for pid, b in before.items()
    }
    values = {k: v for _o, k, v in as_pairs(log)}
    assert values["p"] == "38"


def test_reads_during_cleaning_stay_correct(log) -> None:
    items = [(f"k{i % 7}", f"v{i}") for i in range(80)]
    write(log, items)
    cleaner = LogCleaner([log.directory.parent])
    plan = cleaner.plan(log, now_ms=NOW)
    log.cleaning = True
    built = build_cleaned(plan)  # the worker's part
    log.cleaning = False
    assert len(as_pairs(log)) == 80  # nothing visible yet
    for old, new, _due in built:
        from kafka_broker.storage.cleaner import swap_in

        assert swap_in(log, old, new, now_ms=NOW)
    assert dict((k, v) for _o, k, v in as_pairs(log)) == latest(items)


def test_a_group_removed_meanwhile_is_not_swapped_in(log) -> None:
    write(log, [(f"k{i % 7}", f"v{i}") for i in range(80)])
    cleaner = LogCleaner([log.directory.parent])
    plan = cleaner.plan(log, now_ms=NOW)
    built = build_cleaned(plan)
    log.truncate_fully_and_start_at(500)
    from kafka_broker.storage.cleaner import swap_in

    assert not swap_in(log, *built[0][:2], now_ms=NOW)
    assert log.log_end_offset == 500


def prepare_swap(plog: PartitionLog, items):
    write(plog, items)
    cleaner = LogCleaner([plog.directory.parent])
    plan = cleaner.plan(plog, now_ms=NOW)
    return plan, build_cleaned(plan)


def reopen(partition_dir) -> PartitionLog:
    return PartitionLog(partition_dir, config=config(), now_ms=NOW)


@pytest.mark.parametrize("stage", ["cleaned", "swap", "half-retired", "committed"])
def test_crash_mid_swap_recovers(partition_dir, stage: str) -> None:
    items = [(f"k{i % 9}", f"v{i}") for i in range(90)]
    plog = PartitionLog(partition_dir, config=config(), now_ms=NOW)
    _plan, built = prepare_swap(plog, items)
    full = as_pairs(plog)
    old, new, _due = built[0]
    base = new.base_offset
    directory = plog.directory
    # simulate the swap up to the crash point, on the files only (the process "dies" there)
    if stage != "cleaned":
        os.replace(new.log_path, directory / f"{base:020d}.log{SWAP_SUFFIX}")
    if stage in ("half-retired", "committed"):
        victims = old if stage == "committed" else old[:1]
        for segment in victims:
            segment.rename_for_delete(RETIRED_SUFFIX)
    if stage == "committed":
        os.replace(directory / f"{base:020d}.log{SWAP_SUFFIX}", directory / f"{base:020d}.log")
    plog.close()
    new.close()
    recovered = reopen(partition_dir)
    try:
        pairs = as_pairs(recovered)
        assert not (directory / CLEANED_DIR).exists()
        assert not [p for p in directory.iterdir() if p.name.endswith((SWAP_SUFFIX, RETIRED_SUFFIX))]
        if stage == "committed":
            # the first group is the cleaned copy; the rest is as before
            assert dict((k, v) for _o, k, v in pairs) == latest(items)
            assert len(pairs) < len(full)
        else:
            assert pairs == full
        assert recovered.log_end_offset == 90
        # and the cleaner can finish the job after the restart
        LogCleaner([partition_dir.parent]).clean_sync(recovered, now_ms=NOW, force=True)
        assert dict((k, v) for _o, k, v in as_pairs(recovered)) == latest(items)
    finally:
        recovered.close()


def test_cleaned_log_survives_a_restart_and_the_checkpoint_remembers(partition_dir) -> None:
    plog = PartitionLog(partition_dir, config=config(), now_ms=NOW)
    items = [(f"k{i % 9}", f"v{i}") for i in range(90)]
    write(plog, items)
    cleaner = LogCleaner([partition_dir.parent])
    result = cleaner.clean_sync(plog, now_ms=NOW)
    pairs = as_pairs(plog)
    plog.close()
    reopened = reopen(partition_dir)
    try:
        assert as_pairs(reopened) == pairs
        again = LogCleaner([partition_dir.parent])
        assert again.first_dirty[(reopened.topic, reopened.partition)] == result.end_offset
        assert again.clean_sync(reopened, now_ms=NOW) is None  # nothing dirty
    finally:
        reopened.close()


def test_settings_from_properties() -> None:
    assert settings_from(CleanerSettings, {}) == CleanerSettings(enable=True, backoff_ms=15000)
    assert settings_from(CleanerSettings, {"log.cleaner.enable": "false", "log.cleaner.backoff.ms": "100"}) == (
        CleanerSettings(enable=False, backoff_ms=100)
    )
    with pytest.raises(ValueError, match=r"log\.cleaner\.enable: Expected value to be either true or false"):
        settings_from(CleanerSettings, {"log.cleaner.enable": "maybe"})


def test_log_config_knows_the_compaction_settings() -> None:
    parsed = LogConfig.from_kafka({"delete.retention.ms": "5", "min.cleanable.dirty.ratio": "0.01",
                                   "min.compaction.lag.ms": "7", "cleanup.policy": "compact,delete"})
    assert (parsed.delete_retention_ms, parsed.min_cleanable_dirty_ratio, parsed.min_compaction_lag_ms) == (5, 0.01, 7)
    assert parsed.compacts and parsed.deletes
    with pytest.raises(ValueError):
        LogConfig.from_kafka({"min.cleanable.dirty.ratio": "1.5"})


OPS = st.lists(
    st.tuples(st.sampled_from([f"key{i}" for i in range(12)]), st.one_of(st.none(), st.text("abc", max_size=30))),
    min_size=1,
    max_size=150,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, rounds=st.integers(1, 3), retention_passed=st.booleans())
def test_model_after_cleaning_the_log_holds_exactly_the_latest_value_of_each_live_key(
    tmp_path_factory, ops, rounds, retention_passed
) -> None:
    directory = tmp_path_factory.mktemp("model") / "model-0"
    plog = PartitionLog(directory, config=config(delete_retention_ms=1000, segment_bytes=300), now_ms=NOW)
    try:
        cleaner = LogCleaner([directory.parent])
        chunk = max(1, len(ops) // rounds)
        now = NOW
        for start in range(0, len(ops), chunk):
            write(plog, ops[start : start + chunk], now=now)
            cleaner.clean_sync(plog, now_ms=now)
            now += 5000 if retention_passed else 0
        plog.roll(now_ms=now)  # everything written is cleanable now
        cleaner.clean_sync(plog, now_ms=now, force=True)
        if retention_passed:
            cleaner.clean_sync(plog, now_ms=now + 5000, force=True)
        expected = {k: v for k, v in latest(ops).items() if v is not None}
        pairs = as_pairs(plog)
        live = [(k, v) for _o, k, v in pairs if v is not None]
        assert dict(live) == expected and len(live) == len(expected)
        assert len({k for _o, k, _v in pairs}) == len(pairs)  # one record per key
        if retention_passed:
            assert len(pairs) == len(expected)  # tombstones gone
        offsets = [o for o, _k, _v in pairs]
        assert offsets == sorted(offsets)
        assert plog.log_end_offset == len(ops)
    finally:
        plog.close()


def test_compact_and_delete_policy_both_apply(partition_dir) -> None:
    plog = PartitionLog(partition_dir, config=config(cleanup_policy="compact,delete", retention_ms=DAY), now_ms=NOW)
    try:
        write(plog, [(f"k{i % 4}", str(i)) for i in range(60)])
        LogCleaner([partition_dir.parent]).clean_sync(plog, now_ms=NOW)
        assert len(as_pairs(plog)) < 60
        plog.enforce_retention(NOW + 2 * DAY)
        assert len(plog.segments) == 1 and plog.log_start_offset == plog.active_segment.base_offset
    finally:
        plog.close()


async def test_async_pass_rewrites_in_a_worker_while_the_log_takes_appends(log) -> None:
    import asyncio

    write(log, [(f"k{i % 6}", f"v{i}") for i in range(80)])
    cleaner = LogCleaner([log.directory.parent])
    task = asyncio.ensure_future(cleaner.clean(log, now_ms=NOW))
    await asyncio.sleep(0)
    write(log, [("late", "1")])  # the event loop appends meanwhile (to the active segment)
    result = await task
    assert result is not None and not log.cleaning
    values = dict((k, v) for _o, k, v in as_pairs(log))
    assert values["late"] == "1" and log.log_end_offset == 81


async def test_run_loop_cleans_and_stops_on_cancel(log) -> None:
    import asyncio

    write(log, [(f"k{i % 6}", f"v{i}") for i in range(80)])
    size = log.size
    cleaner = LogCleaner([log.directory.parent], settings=CleanerSettings(backoff_ms=10))
    task = asyncio.ensure_future(cleaner.run(lambda: [(log, log.log_end_offset)]))
    for _ in range(200):
        await asyncio.sleep(0.01)
        if cleaner.passes:
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaner.passes >= 1 and log.size < size


def test_the_last_batch_of_a_producer_stays_even_when_emptied(log) -> None:
    for seq in range(3):
        batch = build_batch([Record(0, NOW, b"a", b"%d" % seq)], base_offset=0, producer_id=9, producer_epoch=0,
                            base_sequence=seq)
        log.append_as_leader(batch, leader_epoch=0, now_ms=NOW)
    write(log, [("a", "plain")] + [("f", "x" * 200)] * 4)
    LogCleaner([log.directory.parent]).clean_sync(log, now_ms=NOW)
    headers = [h for s in log.segments for h in s.scan() if h.producer_id == 9]
    assert [(h.base_offset, h.record_count, h.base_sequence) for h in headers] == [(2, 0, 2)]
    log.rebuild_producer_state()
    assert log.producer_state.get(9).last_seq == 2
    assert dict((k, v) for _o, k, v in as_pairs(log))["a"] == "plain"


class _Counting(LogCleaner):
    """A cleaner whose passes only count how many run at once (each waits until the test lets it finish)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.running = 0
        self.most = 0
        self.done = 0
        self.release = asyncio.Event()

    async def clean(self, plog, *, high_watermark=None, now_ms=None):  # type: ignore[no-untyped-def, override]
        self.running += 1
        self.most = max(self.most, self.running)
        await self.release.wait()
        self.running -= 1
        self.done += 1
        return None


class _Compacting:
    class config:  # stands for a LogConfig
        compacts = True

    cleaning = False


@pytest.mark.parametrize(("threads", "at_once"), [(1, 1), (2, 2), (3, 3), (8, 5), (0, 0)])
def test_log_cleaner_threads_partitions_are_cleaned_at_once(tmp_path, threads: int, at_once: int) -> None:
    """log.cleaner.threads: that many partitions are cleaned concurrently (0: none, as in Kafka)."""
    configured = settings_from(CleanerSettings, {"log.cleaner.threads": str(threads), "log.cleaner.backoff.ms": "10"})
    cleaner = _Counting([tmp_path], settings=configured)
    logs = [(_Compacting(), 0) for _ in range(5)]

    async def scenario() -> None:
        task = asyncio.create_task(cleaner.run(lambda: logs))
        for _ in range(50):  # let the first batch start
            await asyncio.sleep(0)
        assert cleaner.running == at_once
        cleaner.release.set()
        while threads and cleaner.done < len(logs):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert cleaner.most == at_once
