"""The records of __consumer_offsets in Kafka's schemas: golden bytes, round trips, older versions,
and the coordinator partition of a group (Java's String.hashCode, checked against a JVM)."""

from __future__ import annotations

import pytest

from kafka_broker.coordinator import offsets_format as fmt
from kafka_broker.coordinator.group_coordinator import java_string_hashcode, partition_for


def test_offset_key_v1_golden() -> None:
    key = fmt.OffsetKey("grp", "topic", 7)
    expected = bytes.fromhex("0001" "0003" "677270" "0005" "746f706963" "00000007")
    assert fmt.encode_offset_key(key) == expected
    assert fmt.decode_key(expected) == key


def test_offset_value_v3_golden() -> None:
    value = fmt.OffsetValue(offset=42, leader_epoch=5, metadata="md", commit_timestamp=1_700_000_000_000)
    expected = bytes.fromhex("0003" "000000000000002a" "00000005" "0002" "6d64" "0000018bcfe56800")
    assert fmt.encode_offset_value(value) == expected
    assert fmt.decode_offset_value(expected) == value


def test_group_key_v2_golden() -> None:
    assert fmt.encode_group_key(fmt.GroupKey("grp")) == bytes.fromhex("0002" "0003" "677270")
    assert fmt.decode_key(bytes.fromhex("0002" "0003" "677270")) == fmt.GroupKey("grp")


def test_group_value_v3_golden() -> None:
    member = fmt.MemberValue("m-1", None, "c", "/h", 300000, 10000, b"\x01\x02", b"\x03")
    value = fmt.GroupValue("consumer", 3, "range", "m-1", 1000, (member,))
    expected = bytes.fromhex(
        "0003"
        "0008" + b"consumer".hex() +
        "00000003"
        "0005" + b"range".hex() +
        "0003" + b"m-1".hex() +
        "00000000000003e8"
        "00000001"
        "0003" + b"m-1".hex() +
        "ffff"
        "0001" + b"c".hex() +
        "0002" + b"/h".hex() +
        "000493e0"
        "00002710"
        "00000002" "0102"
        "00000001" "03"
    )
    assert fmt.encode_group_value(value) == expected
    assert fmt.decode_group_value(expected) == value


def test_empty_group_value_round_trip() -> None:
    value = fmt.GroupValue("consumer", 4, None, None, 5, ())
    assert fmt.decode_group_value(fmt.encode_group_value(value)) == value


def test_older_offset_value_versions() -> None:
    v1 = bytes.fromhex("0001" "0000000000000010" "0000" "0000000000000001" "0000000000000002")
    assert fmt.decode_offset_value(v1) == fmt.OffsetValue(16, -1, "", 1, 2)
    v0 = bytes.fromhex("0000" "0000000000000010" "0001" "78" "0000000000000001")
    assert fmt.decode_offset_value(v0) == fmt.OffsetValue(16, -1, "x", 1)


def test_group_value_v0_members() -> None:
    data = bytes.fromhex(
        "0000" "0008" + b"consumer".hex() + "00000001" "ffff" "ffff" "00000001"
        "0001" + b"m".hex() + "0001" + b"c".hex() + "0001" + b"h".hex() + "00001388" "00000000" "00000000"
    )
    decoded = fmt.decode_group_value(data)
    assert decoded.members == (fmt.MemberValue("m", None, "c", "h", 5000, 5000, b"", b""),)


def test_unknown_key_versions_are_skipped_and_truncation_is_an_error() -> None:
    assert fmt.decode_key(bytes.fromhex("0003" "0001" "61")) is None  # e.g. a future record type
    with pytest.raises(fmt.FormatError):
        fmt.decode_key(bytes.fromhex("0001" "0005" "61"))


@pytest.mark.parametrize(
    ("text", "hashcode", "mod50", "mod6"),
    [  # from java.lang.String.hashCode on a JVM (OpenJDK 17)
        ("my-group", -1906497762, 12, 0),
        ("console-consumer-12345", 158455506, 6, 0),
        ("", 0, 0, 0),
        ("polygenelubricants", -(1 << 31), 0, 0),  # Integer.MIN_VALUE: Kafka's Utils.abs gives 0
        ("grp\u00e9\u4e2d\U0001f600", 318702892, 42, 4),  # surrogate pairs count as two chars
        ("test-group-0", 2060176935, 35, 3),
    ],
)
def test_partition_for_matches_kafka(text: str, hashcode: int, mod50: int, mod6: int) -> None:
    assert java_string_hashcode(text) == hashcode
    assert partition_for(text, 50) == mod50
    assert partition_for(text, 6) == mod6
