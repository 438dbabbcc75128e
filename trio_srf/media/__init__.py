"""trio_srf.media: SDP, offer/answer and a small RTP endpoint (G.711, RFC 4733 DTMF).

The SDP model, the G.711 companders, RTP packets, telephone-events, SIP INFO DTMF bodies,
WAV files, tones and offer/answer are sans-IO and free of trio; only
:func:`open_rtp_endpoint` / :class:`RtpEndpoint` run on Trio. See docs/media.md.
"""

from typing import TYPE_CHECKING, Any

from trio_srf.media._dtmf import (
    DtmfDetector as DtmfDetector,
    DtmfDigit as DtmfDigit,
    DtmfInfo as DtmfInfo,
    TelephoneEvent as TelephoneEvent,
    build_dtmf_info as build_dtmf_info,
    build_dtmf_relay as build_dtmf_relay,
    parse_dtmf_info as parse_dtmf_info,
)
from trio_srf.media._g711 import (
    alaw_decode as alaw_decode,
    alaw_encode as alaw_encode,
    ulaw_decode as ulaw_decode,
    ulaw_encode as ulaw_encode,
)
from trio_srf.media._offer_answer import (
    MediaCapabilities as MediaCapabilities,
    NegotiatedMedia as NegotiatedMedia,
    answer_offer as answer_offer,
    build_offer as build_offer,
    parse_answer as parse_answer,
)
from trio_srf.media._rtp import (
    Pacer as Pacer,
    RtpPacket as RtpPacket,
    RtpReceiveStats as RtpReceiveStats,
    RtpSender as RtpSender,
)
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
from trio_srf.media._tones import (
    beep as beep,
    cannot_complete_prompt as cannot_complete_prompt,
    concat as concat,
    dtmf_tone as dtmf_tone,
    dual_tone as dual_tone,
    enter_number_prompt as enter_number_prompt,
    invalid_prompt as invalid_prompt,
    silence as silence,
    sine as sine,
)
from trio_srf.media._wav import (
    WavFormatError as WavFormatError,
    read_wav as read_wav,
    write_wav as write_wav,
)

__all__ = [
    "DIRECTIONS",
    "CollectResult",
    "Connection",
    "Direction",
    "DtmfDetector",
    "DtmfDigit",
    "DtmfInfo",
    "Line",
    "MediaCapabilities",
    "MediaDescription",
    "NegotiatedMedia",
    "Origin",
    "Pacer",
    "Recording",
    "RtpEndpoint",
    "RtpMap",
    "RtpPacket",
    "RtpReceiveStats",
    "RtpSender",
    "RtpStatistics",
    "SessionDescription",
    "TelephoneEvent",
    "WavFormatError",
    "alaw_decode",
    "alaw_encode",
    "answer_offer",
    "beep",
    "build_dtmf_info",
    "build_dtmf_relay",
    "build_offer",
    "cannot_complete_prompt",
    "concat",
    "dtmf_tone",
    "dual_tone",
    "enter_number_prompt",
    "invalid_prompt",
    "open_rtp_endpoint",
    "parse_answer",
    "parse_dtmf_info",
    "read_wav",
    "silence",
    "sine",
    "ulaw_decode",
    "ulaw_encode",
    "write_wav",
]

if TYPE_CHECKING:
    from trio_srf.media._endpoint import (
        CollectResult as CollectResult,
        Recording as Recording,
        RtpEndpoint as RtpEndpoint,
        RtpStatistics as RtpStatistics,
        open_rtp_endpoint as open_rtp_endpoint,
    )

# The endpoint runs on Trio; everything else here is sans-IO. Import it on first use so
# `import trio_srf.media` (SDP, G.711, RTP packets...) stays free of trio.
_ENDPOINT_NAMES = frozenset(
    {"CollectResult", "Recording", "RtpEndpoint", "RtpStatistics", "open_rtp_endpoint"}
)


def __getattr__(name: str) -> Any:
    if name in _ENDPOINT_NAMES:
        from trio_srf.media import _endpoint

        return getattr(_endpoint, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
