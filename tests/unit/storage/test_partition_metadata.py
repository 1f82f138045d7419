"""``partition.metadata``: Kafka's file of the topic id a partition directory belongs to."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafka_broker.storage.partition_metadata import PartitionMetadataError, read_topic_id, write_topic_id


def test_written_as_kafka_writes_it_and_read_back(tmp_path: Path) -> None:
    assert read_topic_id(tmp_path) is None
    write_topic_id(tmp_path, "Gm2D0lWbRDGbVb1ibUJ7Lw")
    assert (tmp_path / "partition.metadata").read_text() == "version: 0\ntopic_id: Gm2D0lWbRDGbVb1ibUJ7Lw\n"
    assert read_topic_id(tmp_path) == "Gm2D0lWbRDGbVb1ibUJ7Lw"
    write_topic_id(tmp_path, "AAAAAAAAAAAAAAAAAAAAAQ")  # replaced whole
    assert read_topic_id(tmp_path) == "AAAAAAAAAAAAAAAAAAAAAQ"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["partition.metadata"]


@pytest.mark.parametrize("text", ["version: 1\ntopic_id: x\n", "version: 0\n", "garbage"])
def test_a_file_not_in_the_format_is_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / "partition.metadata").write_text(text)
    with pytest.raises(PartitionMetadataError):
        read_topic_id(tmp_path)
