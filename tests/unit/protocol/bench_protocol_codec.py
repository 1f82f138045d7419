"""Micro-benchmark of the protocol codec (not a test): ``python tests/unit/protocol/bench_protocol_codec.py``.

Measures the paths the broker runs per request: decoding a Produce request carrying 1 MiB of records
(must not copy them), encoding a Metadata response with 100 partitions, and the Fetch response
encode with a FileSlice (must not read it).
"""

from __future__ import annotations

import os
import tempfile
import timeit

from kafka_broker.protocol import (
    FileSlice,
    RequestHeader,
    decode_request,
    decode_request_header,
    decode_response,
    encode_request,
    encode_response,
)


def _report(name: str, fn, number: int) -> None:
    best = min(timeit.repeat(fn, number=number, repeat=5)) / number
    print(f"{name:<58} {best * 1e6:9.2f} µs")


def main() -> None:
    records = os.urandom(1 << 20)
    for version in (3, 9):
        produce = {
            "transactional_id": None,
            "acks": -1,
            "timeout_ms": 30000,
            "topic_data": [{"name": "bench", "partition_data": [{"index": 0, "records": records}]}],
        }
        frame = encode_request(0, version, 1, "bench-client", produce)[4:]

        def decode_produce(frame: bytes = frame) -> None:
            header, offset = decode_request_header(frame)
            decode_request(header, frame, offset)

        _report(f"Produce v{version} request decode (1 MiB records)", decode_produce, 2000)
        _report(
            f"Produce v{version} request encode (1 MiB records)",
            lambda produce=produce, version=version: encode_request(0, version, 1, "c", produce),
            200,
        )

        response = {"responses": [{"name": "bench", "partition_responses": [{"index": 0, "base_offset": 42}]}]}
        header = RequestHeader(0, version, 1, "bench")
        _report(
            f"Produce v{version} response encode (1 partition)",
            lambda response=response, header=header: encode_response(header, response),
            20000,
        )

    for version in (4, 12):
        fetch_request = {
            "replica_id": -1,
            "max_wait_ms": 500,
            "min_bytes": 1,
            "topics": [{"topic": "bench", "partitions": [{"partition": p, "fetch_offset": 100} for p in range(3)]}],
        }
        frame = encode_request(1, version, 1, "bench-client", fetch_request)[4:]

        def decode_fetch(frame: bytes = frame) -> None:
            header, offset = decode_request_header(frame)
            decode_request(header, frame, offset)

        _report(f"Fetch v{version} request decode (3 partitions)", decode_fetch, 20000)

    for version in (7, 12):
        metadata = {
            "brokers": [{"node_id": i, "host": f"broker-{i}.kafka", "port": 9092, "rack": None} for i in range(3)],
            "cluster_id": "kopfka-bench",
            "controller_id": 0,
            "topics": [
                {
                    "name": "bench",
                    "partitions": [
                        {
                            "partition_index": p,
                            "leader_id": p % 3,
                            "leader_epoch": 5,
                            "replica_nodes": [p % 3, (p + 1) % 3, (p + 2) % 3],
                            "isr_nodes": [p % 3, (p + 1) % 3, (p + 2) % 3],
                        }
                        for p in range(100)
                    ],
                }
            ],
        }
        header = RequestHeader(3, version, 1, "bench")
        _report(
            f"Metadata v{version} response encode (100 partitions)",
            lambda metadata=metadata, header=header: encode_response(header, metadata),
            2000,
        )
        wire = b"".join(encode_response(header, metadata))[4:]
        _report(
            f"Metadata v{version} response decode (100 partitions)",
            lambda wire=wire, version=version: decode_response(3, version, wire),
            2000,
        )

    with tempfile.TemporaryFile() as f:
        f.write(records)
        f.flush()
        chunk = FileSlice(f.fileno(), 0, len(records))
        for version in (4, 12):
            fetch = {
                "responses": [
                    {
                        "topic": "bench",
                        "partitions": [{"partition_index": 0, "high_watermark": 10, "records": chunk}],
                    }
                ]
            }
            header = RequestHeader(1, version, 1, "bench")
            _report(
                f"Fetch v{version} response encode (1 MiB FileSlice)",
                lambda fetch=fetch, header=header: encode_response(header, fetch),
                20000,
            )


if __name__ == "__main__":
    main()
