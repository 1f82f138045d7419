"""Cross-check against kafka-python 3's encoder, which is generated from Kafka's own message specs.

For every (API, version) we declare: random bodies drawn from *our* declaration are encoded by both
codecs and must give identical bytes, and each side must decode the other's bytes. A field we
misread from the docs (wrong order, wrong type, wrong version range, missing tag) shows up here.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import kafka.protocol as kafka_protocol  # a dev dependency: missing means a broken install, never a skip
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka.protocol.api_message import ApiMessage
from protocol_strategies import assert_matches, struct_strategy

from kafka_broker.protocol import API_SPECS, encode_request, encode_response
from kafka_broker.protocol.codec import Output, chunks, plan_for
from kafka_broker.protocol.frames import RequestHeader


def _kafka_python_classes() -> dict[tuple[int, str], type]:
    found: dict[tuple[int, str], type] = {}
    for mod in pkgutil.walk_packages(kafka_protocol.__path__, "kafka.protocol."):
        if ".old" in mod.name or mod.name.endswith("generate_stubs"):
            continue
        module = importlib.import_module(mod.name)
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, ApiMessage) and obj is not ApiMessage:
                try:
                    found[(obj.API_KEY, obj.type)] = obj
                except (AttributeError, TypeError):
                    continue
    return found


KP = _kafka_python_classes()

CASES = [
    (key, version, kind)
    for key, spec in API_SPECS.items()
    for version in range(spec.min_version, spec.max_version + 1)
    for kind in ("request", "response")
    if (key, kind) in KP and KP[(key, kind)].max_version >= version
]


def _to_kp(fields: dict, data: dict, version: int) -> dict:
    """Our dict → kafka-python constructor kwargs (nested DataContainers; tagged defaults left out)."""
    out: dict[str, Any] = {}
    for our_name, value in data.items():
        # kafka-python renames the *_authorized_operations bitfields and decodes them to sets of bits
        name = our_name if our_name in fields else "authorized_operations"
        f = fields[name]
        if f.tagged_field_q(version) and _is_kp_default(f, value):
            continue
        if f.type_str == "bitfield":
            out[name] = {bit for bit in range(32) if (value >> bit) & 1}
        elif value is None:
            out[name] = None
        elif f.is_struct_array():
            out[name] = [f.data_class(**_to_kp(f.fields, item, version)) for item in value]
        elif f.is_struct():
            out[name] = f.data_class(**_to_kp(f.fields, value, version))
        elif isinstance(value, memoryview):
            out[name] = value.tobytes()
        else:
            out[name] = value
    return out


def _is_kp_default(f: Any, value: Any) -> bool:
    if f.is_struct():
        return all(_is_kp_default(sub, value.get(sub.name)) for sub in f.fields.values() if sub.name in value)
    if f.is_array():
        return not value
    return value == f.default


def _body_bytes(key: int, version: int, kind: str, body: dict) -> bytes:
    out = Output(b"\0\0\0\0")
    plan_for(key, version, kind == "response").encode(out, body)
    return b"".join(c if isinstance(c, bytes) else c.read() for c in chunks(out))[4:]


@pytest.mark.parametrize(("key", "version", "kind"), CASES, ids=lambda x: str(x))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_same_bytes_as_kafka_python(key: int, version: int, kind: str, data: st.DataObject) -> None:
    spec = API_SPECS[key]
    fields = spec.response if kind == "response" else spec.request
    body = data.draw(struct_strategy(fields, version, spec.is_flexible(version)))
    if key == 18 and kind == "response":
        body["error_code"] = 0  # kafka-python reads any ApiVersions error response as v0 (KIP-511)
    kp_cls = KP[(key, kind)][version]

    ours = _body_bytes(key, version, kind, body)
    theirs = kp_cls(**_to_kp(kp_cls._struct.fields, body, version)).encode()
    assert ours == theirs

    decoded_by_them = kp_cls.decode(ours)
    assert ApiMessage.encode(decoded_by_them) == ours  # (skips a kafka-python override that needs a header)

    plan = plan_for(key, version, kind == "response")
    decoded, pos = plan.decode(memoryview(theirs), 0)
    assert pos == len(theirs)
    assert_matches(decoded, body)


def test_cases_cover_most_declared_versions() -> None:
    declared = sum(2 * (s.max_version - s.min_version + 1) for s in API_SPECS.values())
    assert len(CASES) == declared


def test_frames_match_kafka_python_headers() -> None:
    """Whole frames, headers included: flexible request (header v2) and ApiVersions' v0 response header."""
    from kafka.protocol.metadata import ApiVersionsResponse, MetadataRequest

    req = MetadataRequest[12](topics=None, allow_auto_topic_creation=True)
    req.with_header(correlation_id=42, client_id="kp")
    theirs = req.encode(header=True, framed=True)
    ours = encode_request(3, 12, 42, "kp", {"topics": None, "allow_auto_topic_creation": True})
    assert ours == theirs

    resp = ApiVersionsResponse[3](error_code=0, api_keys=[], throttle_time_ms=0)
    resp.with_header(correlation_id=7)
    theirs = resp.encode(header=True, framed=True)
    ours = b"".join(encode_response(RequestHeader(18, 3, 7, "x"), {"api_keys": []}))
    assert ours == theirs
