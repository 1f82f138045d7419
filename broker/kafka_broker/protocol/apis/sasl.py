"""SaslHandshake and SaslAuthenticate: a SASL listener's exchange before any other request.

SaslHandshake names the mechanism (v0: the tokens then travel as bare length-prefixed frames; v1: each token
is the ``auth_bytes`` of a SaslAuthenticate request, answered with the server's next token, an error code and
message, and from v1 the session's lifetime for re-authentication, KIP-368).
"""

from __future__ import annotations

from ..api_keys import ApiKey
from ..primitives import BYTES, INT16, INT64, STRING
from ..schema import API, Array, F

SASL_HANDSHAKE = API(
    ApiKey.SASL_HANDSHAKE,
    "0-1",
    flexible=None,
    request=[
        F("mechanism", STRING),
    ],
    response=[
        F("error_code", INT16),
        F("mechanisms", Array(STRING)),
    ],
)

SASL_AUTHENTICATE = API(
    ApiKey.SASL_AUTHENTICATE,
    "0-2",
    flexible="2+",
    request=[
        F("auth_bytes", BYTES),
    ],
    response=[
        F("error_code", INT16),
        F("error_message", STRING, nullable="0+"),
        F("auth_bytes", BYTES),
        F("session_lifetime_ms", INT64, "1+"),
    ],
)
