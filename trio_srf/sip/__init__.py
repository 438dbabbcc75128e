"""The sans-IO SIP message layer: parsing, message model, typed header views, digest, ids.

Importable without Trio: nothing below ``trio_srf.sip`` touches I/O.
"""

# ruff: noqa: E402  (the imports below must follow _accel.install())
# First, before any submodule is imported: choose the mypyc-compiled parser or its pure-Python
# source (see _accel.py and docs/sip.md, "The compiled parser").
from . import _accel

_accel.install()

from ._digest import (
    Challenge as Challenge,
    Credentials as Credentials,
    DigestClient as DigestClient,
    DigestServer as DigestServer,
    VerifyResult as VerifyResult,
    answer_challenge as answer_challenge,
    compute_ha1 as compute_ha1,
    parse_challenge as parse_challenge,
    parse_credentials as parse_credentials,
)
from ._headers import COMPACT_FORMS as COMPACT_FORMS, Headers as Headers
from ._ids import (
    MAGIC_COOKIE as MAGIC_COOKIE,
    new_branch as new_branch,
    new_call_id as new_call_id,
    new_tag as new_tag,
)
from ._message import (
    REASON_PHRASES as REASON_PHRASES,
    Request as Request,
    Response as Response,
    SipMessage as SipMessage,
    reason_phrase as reason_phrase,
)
from ._parsed import (
    Contact as Contact,
    ContentType as ContentType,
    CSeq as CSeq,
    NameAddr as NameAddr,
    Via as Via,
    parse_contact_list as parse_contact_list,
    parse_content_type as parse_content_type,
    parse_cseq as parse_cseq,
    parse_int_header as parse_int_header,
    parse_name_addr as parse_name_addr,
    parse_name_addr_list as parse_name_addr_list,
    parse_token_list as parse_token_list,
    parse_via_list as parse_via_list,
    split_header_values as split_header_values,
)
from ._parser import (
    DEFAULT_LIMITS as DEFAULT_LIMITS,
    KeepAlive as KeepAlive,
    ParserLimits as ParserLimits,
    StreamFramer as StreamFramer,
    parse as parse,
)
from ._uri import (
    AbsoluteURI as AbsoluteURI,
    SipURI as SipURI,
    TelURI as TelURI,
    parse_uri as parse_uri,
)

__all__ = [
    "COMPACT_FORMS",
    "DEFAULT_LIMITS",
    "MAGIC_COOKIE",
    "REASON_PHRASES",
    "AbsoluteURI",
    "CSeq",
    "Challenge",
    "Contact",
    "ContentType",
    "Credentials",
    "DigestClient",
    "DigestServer",
    "Headers",
    "KeepAlive",
    "NameAddr",
    "ParserLimits",
    "Request",
    "Response",
    "SipMessage",
    "SipURI",
    "StreamFramer",
    "TelURI",
    "VerifyResult",
    "Via",
    "answer_challenge",
    "compute_ha1",
    "new_branch",
    "new_call_id",
    "new_tag",
    "parse",
    "parse_challenge",
    "parse_contact_list",
    "parse_content_type",
    "parse_credentials",
    "parse_cseq",
    "parse_int_header",
    "parse_name_addr",
    "parse_name_addr_list",
    "parse_token_list",
    "parse_uri",
    "parse_via_list",
    "reason_phrase",
    "split_header_values",
]
