"""Cross-check against aiokafka 0.14's hand-written request/response classes.

aiokafka declares each version as a positional schema; where it has one for an (API, version) we
serve, a random body drawn from our declaration is encoded by us, decoded by aiokafka (which must
consume every byte and find the same values in the same order), re-encoded by aiokafka to the same
bytes, and decoded back by us. Values are compared as flat sequences because aiokafka sometimes
groups fields differently with the same wire layout (a bare ``[]string`` where Kafka has a
one-field struct, an inline sub-schema). Tagged fields stay at their defaults: aiokafka can only
write an empty tagged-field section.
"""

from __future__ import annotations

import importlib
import io
from typing import Any

import aiokafka.protocol.api as aio_api  # a dev dependency: missing means a broken install, never a skip
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protocol_strategies import assert_matches, struct_strategy

from kafka_broker.protocol import API_SPECS
from kafka_broker.protocol.codec import Output, chunks, plan_for
from kafka_broker.protocol.schema import ArrayOf, Field, StructOf

_MODULES = ("admin", "commit", "coordination", "fetch", "group", "metadata", "offset", "produce", "transaction")


def _aiokafka_classes() -> dict[tuple[int, int, str], type]:
    found: dict[tuple[int, int, str], type] = {}
    for name in _MODULES:
        module = importlib.import_module(f"aiokafka.protocol.{name}")
        for obj in vars(module).values():
            if not isinstance(obj, type) or not isinstance(getattr(obj, "API_KEY", None), int):
                continue
            if issubclass(obj, aio_api.RequestStruct):
                found[(obj.API_KEY, obj.API_VERSION, "request")] = obj
            elif issubclass(obj, aio_api.Response):
                found[(obj.API_KEY, obj.API_VERSION, "response")] = obj
    return found


AIO = _aiokafka_classes()

AIOKAFKA_BUGS = {
    # aiokafka declares ListOffsets v4/v5 current_leader_epoch as int64; the protocol says int32
    # (and kafka-python, generated from Kafka's own specs, agrees with us).
    (2, 4, "request"),
    (2, 5, "request"),
    # aiokafka declares DescribeAcls v2 with the v1 (non-flexible) layout; Kafka's spec makes v2 the first
    # flexible version (kafka-python agrees with us).
    (29, 2, "request"),
    (29, 2, "response"),
}

CASES = [
    (key, version, kind)
    for key, spec in API_SPECS.items()
    for version in range(spec.min_version, spec.max_version + 1)
    for kind in ("request", "response")
    if (key, version, kind) in AIO and (key, version, kind) not in AIOKAFKA_BUGS
]


def _positional(fields: tuple[Field, ...], version: int, flexible: bool, data: dict) -> tuple:
    """Our dict → aiokafka's nested tuples, in declaration order (tagged section as ``{}``)."""
    values: list[Any] = []
    for f in fields:
        if not f.exists_in(version) or (flexible and f.tag is not None):
            continue
        v = data[f.name]
        t = f.type
        if isinstance(t, ArrayOf) and isinstance(t.item, StructOf) and v is not None:
            v = [_positional(t.item.fields, version, flexible, item) for item in v]
        elif isinstance(t, StructOf):
            v = _positional(t.fields, version, flexible, v)
        elif isinstance(v, memoryview):
            v = v.tobytes()
        values.append(v)
    if flexible:
        values.append({})
    return tuple(values)


def _flat(value: Any) -> list[Any]:
    """Leaves in wire order, with array lengths, so equal wire layouts compare equal."""
    if isinstance(value, tuple):
        return [leaf for item in value for leaf in _flat(item)]
    if isinstance(value, list):
        return ["array", len(value), *(leaf for item in value for leaf in _flat(item))]
    if isinstance(value, dict):
        return ["tags", sorted(value.items())]
    return [value]


def _body_bytes(key: int, version: int, kind: str, body: dict) -> bytes:
    out = Output(b"\0\0\0\0")
    plan_for(key, version, kind == "response").encode(out, body)
    return b"".join(c if isinstance(c, bytes) else c.read() for c in chunks(out))[4:]


def test_aiokafka_covers_a_good_share() -> None:
    assert len(CASES) >= 80


@pytest.mark.parametrize(("key", "version", "kind"), CASES, ids=lambda x: str(x))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_same_bytes_as_aiokafka(key: int, version: int, kind: str, data: st.DataObject) -> None:
    spec = API_SPECS[key]
    flexible = spec.is_flexible(version)
    fields = spec.response if kind == "response" else spec.request
    body = data.draw(struct_strategy(fields, version, flexible, tagged=False))
    aio_cls = AIO[(key, version, kind)]
    ours = _body_bytes(key, version, kind, body)

    stream = io.BytesIO(ours)
    decoded_by_them = aio_cls.decode(stream)
    assert stream.tell() == len(ours), "aiokafka left bytes unread"
    their_values = tuple(decoded_by_them.__dict__[n] for n in aio_cls.SCHEMA.names)
    assert _flat(their_values) == _flat(_positional(fields, version, flexible, body))

    theirs = decoded_by_them.encode()
    assert theirs == ours

    decoded, pos = plan_for(key, version, kind == "response").decode(memoryview(theirs), 0)
    assert pos == len(theirs)
    assert_matches(decoded, body)


def test_known_aiokafka_bug_is_still_theirs() -> None:
    """ListOffsets v4 partition: partition int32, current_leader_epoch int32, timestamp int64."""
    schema = AIO[(2, 4, "request")].SCHEMA
    partition = schema.fields[2].array_of.fields[1].array_of
    assert [f.__name__ for f in partition.fields] == ["Int32", "Int64", "Int64"]
