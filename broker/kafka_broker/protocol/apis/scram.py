"""DescribeUserScramCredentials and AlterUserScramCredentials: users' SCRAM credentials (KIP-554).

Clients never send a password: an upsertion carries the salt and the salted password (PBKDF2 of the
password, ``Hi()`` of RFC 5802), from which the broker derives the stored and server keys.
"""

from __future__ import annotations

from ..api_keys import ApiKey
from ..primitives import BYTES, INT8, INT16, INT32, STRING
from ..schema import API, F

DESCRIBE_USER_SCRAM_CREDENTIALS = API(
    ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS,
    "0",
    flexible="0+",
    request=[
        F("users", [
            F("name", STRING),
        ], nullable="0+", default=None),
    ],
    response=[
        F("throttle_time_ms", INT32),
        F("error_code", INT16),
        F("error_message", STRING, nullable="0+"),
        F("results", [
            F("user", STRING),
            F("error_code", INT16),
            F("error_message", STRING, nullable="0+"),
            F("credential_infos", [
                F("mechanism", INT8),
                F("iterations", INT32),
            ]),
        ]),
    ],
)

ALTER_USER_SCRAM_CREDENTIALS = API(
    ApiKey.ALTER_USER_SCRAM_CREDENTIALS,
    "0",
    flexible="0+",
    request=[
        F("deletions", [
            F("name", STRING),
            F("mechanism", INT8),
        ]),
        F("upsertions", [
            F("name", STRING),
            F("mechanism", INT8),
            F("iterations", INT32),
            F("salt", BYTES),
            F("salted_password", BYTES),
        ]),
    ],
    response=[
        F("throttle_time_ms", INT32),
        F("results", [
            F("user", STRING),
            F("error_code", INT16),
            F("error_message", STRING, nullable="0+"),
        ]),
    ],
)
