"""SDP helpers for offer/answer: a small lossless model (RFC 8866, RFC 3264).

Sans-IO and free of trio; see :mod:`trio_srf.media._sdp` for the rules it keeps.
"""

from trio_srf.media._sdp import DIRECTIONS as DIRECTIONS
from trio_srf.media._sdp import Connection as Connection
from trio_srf.media._sdp import Direction as Direction
from trio_srf.media._sdp import Line as Line
from trio_srf.media._sdp import MediaDescription as MediaDescription
from trio_srf.media._sdp import Origin as Origin
from trio_srf.media._sdp import RtpMap as RtpMap
from trio_srf.media._sdp import SessionDescription as SessionDescription

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
