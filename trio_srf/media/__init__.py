"""SDP helpers for offer/answer: a small lossless model (RFC 8866, RFC 3264).

Sans-IO and free of trio; see :mod:`trio_srf.media._sdp` for the rules it keeps.
"""

from trio_srf.media._sdp import (
    DIRECTIONS as DIRECTIONS,
    Connection as Connection,
    Direction as Direction,
    Line as Line,
    MediaDescription as MediaDescription,
    Origin as Origin,
    RtpMap as RtpMap,
    SessionDescription as SessionDescription,
)

__all__ = [
    "DIRECTIONS",
    "Connection",
    "Direction",
    "Line",
    "MediaDescription",
    "Origin",
    "RtpMap",
    "SessionDescription",
]
