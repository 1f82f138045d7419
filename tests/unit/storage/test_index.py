import pytest

from kafka_broker.storage.index import CorruptIndexError, OffsetIndex, TimeIndex


def test_offset_index_lookups(tmp_path):
    index = OffsetIndex(tmp_path / "00000000000000000100.index", base_offset=100, max_index_bytes=80)
    index.resize()
    assert (tmp_path / "00000000000000000100.index").stat().st_size == 80
    assert index.lookup(150) == (100, 0) and index.last_entry == (100, 0)
    for i in range(1, 6):
        index.append(100 + 10 * i, 1000 * i)
    assert index.entries == 5 and not index.is_full
    assert index.lookup(99) == (100, 0)
    assert index.lookup(109) == (100, 0)
    assert index.lookup(110) == (110, 1000)
    assert index.lookup(135) == (130, 3000)
    assert index.lookup(10_000) == (150, 5000)
    assert index.lookup_by_position(2999) == (120, 2000)
    assert index.lookup_by_position(3000) == (130, 3000)
    assert index.lookup_by_position(10) == (100, 0)
    with pytest.raises(ValueError):
        index.append(150, 6000)
    for i in range(6, 11):
        index.append(100 + 10 * i, 1000 * i)
    assert index.is_full
    index.truncate_to(130)
    assert index.entries == 2 and index.last_entry == (120, 2000)
    index.truncate_to(131)
    assert index.entries == 2
    index.close()
    assert (tmp_path / "00000000000000000100.index").stat().st_size == 16


def test_offset_index_reopen_and_checks(tmp_path):
    path = tmp_path / "00000000000000000000.index"
    index = OffsetIndex(path, base_offset=0, max_index_bytes=1024)
    index.resize()
    index.append(5, 100)
    index.append(9, 200)
    index.close()
    reopened = OffsetIndex(path, base_offset=0, max_index_bytes=1024)
    assert reopened.entries == 2 and reopened.lookup(9) == (9, 200)
    reopened.check()
    reopened.close()

    crashed = OffsetIndex(path, base_offset=0, max_index_bytes=1024)
    crashed.resize()  # left preallocated, as after a crash: trailing zero entries
    crashed._mm.flush()
    del crashed
    with pytest.raises(CorruptIndexError):
        OffsetIndex(path, base_offset=0, max_index_bytes=1024).check()

    path.write_bytes(b"\x00" * 13)
    with pytest.raises(CorruptIndexError):
        OffsetIndex(path, base_offset=0, max_index_bytes=1024).check()


def test_time_index(tmp_path):
    index = TimeIndex(tmp_path / "00000000000000000000.timeindex", base_offset=0, max_index_bytes=12 * 4)
    index.resize()
    assert index.lookup(5) == (-1, 0) and index.last_entry == (-1, 0)
    assert index.maybe_append(1000, 3)
    assert not index.maybe_append(1000, 5)  # not a new maximum
    assert not index.maybe_append(900, 6)
    assert index.maybe_append(2000, 8)
    assert index.maybe_append(3000, 12)
    assert index.is_full  # one of four slots stays free for the entry at roll
    assert not index.maybe_append(4000, 15)
    assert index.maybe_append(4000, 15, at_roll=True)
    assert index.lookup(999) == (-1, 0)
    assert index.lookup(1500) == (1000, 3)
    assert index.lookup(2000) == (2000, 8)
    assert index.lookup(10**15) == (4000, 15)
    index.truncate_to(12)
    assert index.last_entry == (2000, 8)
    index.check()
    index.close()
    assert index.path.stat().st_size == 24
