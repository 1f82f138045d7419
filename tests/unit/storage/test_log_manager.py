import pytest

from kafka_broker.storage.log_config import LogConfig
from kafka_broker.storage.log_manager import LogManager

from .helpers import make_batch, read_all, records_of


def test_placement_load_and_checkpoint(tmp_path):
    dirs = [tmp_path / "a", tmp_path / "b"]
    manager = LogManager(dirs, LogConfig(segment_bytes=300, file_delete_delay_ms=0))
    assert manager.load_all() == 0
    logs = [manager.get_or_create("my.topic-name_x", p) for p in range(4)]
    assert [log.directory.parent.name for log in logs] == ["a", "b", "a", "b"]
    assert manager.get_or_create("my.topic-name_x", 0) is logs[0]
    assert manager.get("my.topic-name_x", 9) is None
    for _ in range(5):
        logs[1].append_as_leader(make_batch(2, value_size=60), leader_epoch=0)
    logs[1].delete_records_before(5)
    manager.close_all()
    assert (tmp_path / "b" / "log-start-offset-checkpoint").read_text() == "0\n1\nmy.topic-name_x 1 5\n"

    (tmp_path / "a" / "stale-0.abc-delete").mkdir()
    (tmp_path / "a" / "not a partition").mkdir()
    manager = LogManager(dirs, LogConfig())
    assert manager.load_all() == 4
    assert manager.partitions() == [("my.topic-name_x", p) for p in range(4)]
    reloaded = manager.get("my.topic-name_x", 1)
    assert (reloaded.log_start_offset, reloaded.log_end_offset) == (5, 10)
    assert records_of(reloaded.read(5, max_bytes=1).slice.read())[0].offset == 4  # batch 4..5 whole
    assert [r.offset for r in read_all(reloaded)] == list(range(5, 10))
    assert not (tmp_path / "a" / "stale-0.abc-delete").exists()
    manager.close_all()


def test_invalid_names_and_duplicates(tmp_path):
    manager = LogManager([tmp_path / "a", tmp_path / "b"], LogConfig())
    for topic in ("../etc", "a/b", "", ".", "x" * 250):
        with pytest.raises(ValueError):
            manager.get_or_create(topic, 0)
    with pytest.raises(ValueError):
        manager.get_or_create("t", -1)
    (tmp_path / "a" / "t-0").mkdir(parents=True)
    (tmp_path / "b" / "t-0").mkdir(parents=True)
    with pytest.raises(RuntimeError, match="found twice"):
        manager.load_all()


def test_delete_renames_then_removes(tmp_path):
    manager = LogManager([tmp_path], LogConfig(file_delete_delay_ms=1000))
    log = manager.get_or_create("t", 0)
    log.append_as_leader(make_batch(2), leader_epoch=0)
    in_flight = log.read(0, max_bytes=100).slice
    expected = in_flight.read()
    assert manager.delete("t", 0, now_ms=0)
    assert not manager.delete("t", 0)
    assert manager.get("t", 0) is None and not (tmp_path / "t-0").exists()
    (renamed,) = tmp_path.glob("t-0.*-delete")
    assert in_flight.read() == expected
    fresh = manager.get_or_create("t", 0)  # a new partition of the same name meanwhile
    assert fresh.log_end_offset == 0
    manager.enforce_retention(999)
    assert renamed.exists()
    manager.enforce_retention(1000)
    assert not renamed.exists()
    manager.close_all()


def test_update_config_and_retention(tmp_path):
    manager = LogManager([tmp_path], LogConfig(segment_bytes=300, file_delete_delay_ms=0, retention_ms=-1))
    logs = [manager.get_or_create("t", p) for p in range(2)]
    other = manager.get_or_create("u", 0)
    for log in (*logs, other):
        for _ in range(4):
            log.append_as_leader(make_batch(2, value_size=60), leader_epoch=0)
    assert manager.enforce_retention(0) == 0
    manager.update_config("t", LogConfig(segment_bytes=300, file_delete_delay_ms=0, retention_bytes=0))
    assert manager.config_for("t").retention_bytes == 0 and logs[0].config.retention_bytes == 0
    deleted = manager.enforce_retention(0)
    assert deleted == 2 * 3  # all but the active segment of both partitions of t
    assert all(len(log.segments) == 1 for log in logs) and len(other.segments) == 4
    manager.flush_all()
    manager.close_all()
