"""The Kafka wire protocol: our declarations of each message, one generic codec, and the framing.

Everything above this package speaks plain dicts keyed by the snake_case form of Kafka's field
names; see :mod:`.schema` for the declaration language and :mod:`.frames` for the entry points.
"""

from __future__ import annotations

from .api_keys import ApiKey
from .apis import API_SPECS
from .errors import ErrorCode, KafkaError, ProtocolError
from .file_slice import FileSlice
from .frames import (
    RequestHeader,
    decode_request,
    decode_request_header,
    decode_response,
    encode_request,
    encode_response,
)
from .schema import ApiSpec

__all__ = [
    "API_SPECS",
    "ApiKey",
    "ApiSpec",
    "ErrorCode",
    "FileSlice",
    "KafkaError",
    "ProtocolError",
    "RequestHeader",
    "decode_request",
    "decode_request_header",
    "decode_response",
    "encode_request",
    "encode_response",
]
