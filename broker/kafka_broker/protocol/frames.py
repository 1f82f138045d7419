"""Request and response framing: the size prefix, the headers, and which header version applies.

This is the one place that knows the header rules:

* request header v1 = api_key int16, api_version int16, correlation_id int32, client_id nullable
  string (always the classic int16-length form, even in v2, so any broker can read it);
  v2 (flexible request versions) appends a tagged-field section;
* response header v0 = correlation_id int32; v1 (flexible response versions) appends a tagged-field
  section — except for ApiVersions, whose response header is always v0 (KIP-511), so that a client
  can read the answer to a version the broker does not know.

Which header version a request uses follows from its API's first flexible version; for an API key
we do not declare, header v1 is assumed, which is enough to read the correlation id and answer.
For an ApiVersions request of a version we do not serve, answer with
``encode_response(dataclasses.replace(header, api_version=0), {...UNSUPPORTED_VERSION...})``: clients
read any ApiVersions error response as v0.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import primitives as p
from .api_keys import ApiKey
from .apis import API_SPECS
from .codec import Output, chunks, plan_for
from .errors import ProtocolError
from .file_slice import FileSlice

__all__ = [
    "RequestHeader",
    "decode_request",
    "decode_request_header",
    "decode_response",
    "encode_request",
    "encode_response",
]

_REQUEST_HEAD = struct.Struct(">ihhi")  # size, api_key, api_version, correlation_id
_RESPONSE_HEAD = struct.Struct(">ii")  # size, correlation_id
_HEADER_FIXED = struct.Struct(">hhi")
_I32 = struct.Struct(">i")
_DECODE_ERRORS = (struct.error, IndexError, UnicodeDecodeError)


@dataclass(slots=True)
class RequestHeader:
    """The part of a request every API shares; ``api_key`` stays an int for keys we do not know."""

    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None


def _view(frame: bytes | bytearray | memoryview) -> memoryview:
    if type(frame) is memoryview:
        return frame if frame.format == "B" else frame.cast("B")
    return memoryview(frame)


def _name(api_key: int) -> str:
    spec = API_SPECS.get(api_key)
    return spec.name if spec is not None else f"API {api_key}"


def _request_header_is_flexible(api_key: int, api_version: int) -> bool:
    spec = API_SPECS.get(api_key)
    return spec is not None and spec.is_flexible(api_version)


def _response_header_is_flexible(api_key: int, body_flexible: bool) -> bool:
    return body_flexible and api_key != ApiKey.API_VERSIONS


def decode_request_header(frame: bytes | bytearray | memoryview) -> tuple[RequestHeader, int]:
    """Read the header of one request frame (without its size prefix); returns it and the body offset.

    Works for unknown API keys and unsupported versions too, so the caller can still answer them.
    """
    buf = _view(frame)
    if len(buf) < 8:
        raise ProtocolError("truncated request header")
    try:
        api_key, api_version, correlation_id = _HEADER_FIXED.unpack_from(buf, 0)
        client_id, pos = p.read_nullable_string(buf, 8)
        if _request_header_is_flexible(api_key, api_version):
            pos = p.skip_tagged_fields(buf, pos)
    except _DECODE_ERRORS as exc:
        raise ProtocolError(f"malformed request header: {exc}") from exc
    return RequestHeader(api_key, api_version, correlation_id, client_id), pos


def decode_request(
    header: RequestHeader, frame: bytes | bytearray | memoryview, body_offset: int, *, strict: bool = False
) -> dict[str, Any]:
    """Decode a request body; byte fields are zero-copy views of ``frame``, which must stay unchanged.

    Bytes after the body are ignored unless ``strict``, as Apache Kafka ignores them: librdkafka
    sends its Metadata v9+ "all topics" request with a 4-byte placeholder where the 1-byte null
    array belongs, leaving 3 trailing bytes that a strict broker would refuse.
    """
    plan = plan_for(header.api_key, header.api_version, False)
    buf = _view(frame)
    try:
        body, pos = plan.decode(buf, body_offset)
    except _DECODE_ERRORS as exc:
        raise ProtocolError(f"malformed {_name(header.api_key)} v{header.api_version} request: {exc}") from exc
    if strict and pos != len(buf):
        raise ProtocolError(f"{len(buf) - pos} trailing bytes after the request body")
    return body


def encode_response(header: RequestHeader, body: Mapping[str, Any]) -> list[bytes | FileSlice]:
    """Encode the response to ``header``'s request: chunks to write in order, the first starting
    with the int32 size of the whole response; FileSlice chunks are meant for ``sendfile``.
    """
    plan = plan_for(header.api_key, header.api_version, True)
    out = Output(_RESPONSE_HEAD.pack(0, header.correlation_id))
    if _response_header_is_flexible(header.api_key, plan.flexible):
        out.append(0)
    plan.encode(out, body)
    return chunks(out)


def encode_request(
    api_key: int, api_version: int, correlation_id: int, client_id: str | None, body: Mapping[str, Any]
) -> bytes:
    """Encode a whole request frame, size prefix included (for clients: tests, the replica fetcher)."""
    plan = plan_for(api_key, api_version, False)
    out = Output(_REQUEST_HEAD.pack(0, api_key, api_version, correlation_id))
    p.write_nullable_string(out, client_id)
    if plan.flexible:
        out.append(0)
    plan.encode(out, body)
    parts = chunks(out)
    if len(parts) == 1:
        return parts[0]  # type: ignore[return-value]
    return b"".join(c.read() if isinstance(c, FileSlice) else c for c in parts)


def decode_response(
    api_key: int, api_version: int, frame: bytes | bytearray | memoryview
) -> tuple[int, dict[str, Any]]:
    """Decode a response frame (without its size prefix) into (correlation_id, body); bytes left
    after the body are an error here, since they would mean we misread the response."""
    plan = plan_for(api_key, api_version, True)
    buf = _view(frame)
    try:
        (correlation_id,) = _I32.unpack_from(buf, 0)
        pos = 4
        if _response_header_is_flexible(api_key, plan.flexible):
            pos = p.skip_tagged_fields(buf, pos)
        body, pos = plan.decode(buf, pos)
    except _DECODE_ERRORS as exc:
        raise ProtocolError(f"malformed {_name(api_key)} v{api_version} response: {exc}") from exc
    if pos != len(buf):
        raise ProtocolError(f"{len(buf) - pos} trailing bytes after the response body")
    return correlation_id, body
