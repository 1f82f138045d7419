from kafka_broker.storage.checkpoint import read_checkpoint, write_checkpoint
from kafka_broker.storage.leader_epoch import EpochEntry, LeaderEpochCache


def test_assign_and_end_offsets(tmp_path):
    cache = LeaderEpochCache(tmp_path)
    assert cache.end_offset_for(0, log_end_offset=0) == (-1, -1)
    assert cache.assign(1, 0)
    assert not cache.assign(1, 5)  # same epoch later: nothing new
    assert cache.assign(3, 10)
    assert cache.assign(4, 20)
    assert cache.entries == [EpochEntry(1, 0), EpochEntry(3, 10), EpochEntry(4, 20)]
    assert cache.end_offset_for(4, log_end_offset=25) == (4, 25)
    assert cache.end_offset_for(3, log_end_offset=25) == (3, 20)
    assert cache.end_offset_for(2, log_end_offset=25) == (1, 10)  # unknown epoch: the one before it
    assert cache.end_offset_for(0, log_end_offset=25) == (0, 0)  # below the first epoch
    assert cache.end_offset_for(9, log_end_offset=25) == (-1, -1)
    assert cache.end_offset_for(-1, log_end_offset=25) == (-1, -1)
    assert cache.epoch_for_offset(15) == 3
    # an older epoch at a later offset (a new leader's history) replaces the conflicting tail
    assert cache.assign(2, 15)
    assert cache.entries == [EpochEntry(1, 0), EpochEntry(2, 15)]


def test_truncation(tmp_path):
    cache = LeaderEpochCache(tmp_path)
    for epoch, offset in ((0, 0), (2, 10), (5, 20)):
        cache.assign(epoch, offset)
    cache.truncate_from_end(20)
    assert cache.entries == [EpochEntry(0, 0), EpochEntry(2, 10)]
    cache.truncate_from_start(12)
    assert cache.entries == [EpochEntry(2, 12)]
    cache.truncate_from_start(12)
    assert cache.entries == [EpochEntry(2, 12)]
    reloaded = LeaderEpochCache(tmp_path)
    assert reloaded.entries == [EpochEntry(2, 12)]
    assert (tmp_path / "leader-epoch-checkpoint").read_text() == "0\n1\n2 12\n"


def test_unreadable_checkpoint_starts_empty(tmp_path):
    (tmp_path / "leader-epoch-checkpoint").write_text("0\n3\n1 0\n")
    assert LeaderEpochCache(tmp_path).entries == []


def test_checkpoint_format(tmp_path):
    path = tmp_path / "log-start-offset-checkpoint"
    assert read_checkpoint(path, fields=3) is None
    write_checkpoint(path, [("a.b-c", 0, 17), ("x", 3, 9)])
    assert path.read_text() == "0\n2\na.b-c 0 17\nx 3 9\n"
    assert read_checkpoint(path, fields=3) == [["a.b-c", "0", "17"], ["x", "3", "9"]]
    assert not list(tmp_path.glob("*.tmp"))
