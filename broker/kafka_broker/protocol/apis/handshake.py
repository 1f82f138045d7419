"""ApiVersions: what a client asks before anything else on a new connection (on a SASL listener,
SaslHandshake follows: :mod:`.sasl`)."""

from __future__ import annotations

from ..api_keys import ApiKey
from ..primitives import BOOL, INT16, INT32, INT64, STRING
from ..schema import API, F

API_VERSIONS = API(
    ApiKey.API_VERSIONS,
    "0-4",  # v4 (KAFKA-17011) is v3
    flexible="3+",
    request=[
        F("client_software_name", STRING, "3+"),
        F("client_software_version", STRING, "3+"),
    ],
    response=[
        F("error_code", INT16),
        F("api_keys", [
            F("api_key", INT16),
            F("min_version", INT16),
            F("max_version", INT16),
        ]),
        F("throttle_time_ms", INT32, "1+"),
        F("supported_features", [
            F("name", STRING, "3+"),
            F("min_version", INT16, "3+"),
            F("max_version", INT16, "3+"),
        ], "3+", tag=0),
        F("finalized_features_epoch", INT64, "3+", default=-1, tag=1),
        F("finalized_features", [
            F("name", STRING, "3+"),
            F("max_version_level", INT16, "3+"),
            F("min_version_level", INT16, "3+"),
        ], "3+", tag=2),
        F("zk_migration_ready", BOOL, "3+", tag=3),
    ],
)
