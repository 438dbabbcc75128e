"""The application layer: Srf, middleware, Request/Response, dialogs as Trio scopes.

A Trio port of drachtio-srf (see docs/srf.md). Import from here; the
underscore modules are private.
"""

from ._b2bua import B2buaContext as B2buaContext, copy_headers as copy_headers
from ._dialog import Dialog as Dialog, DialogState as DialogState, Party as Party
from ._events import (
    Acked as Acked,
    Destroyed as Destroyed,
    DialogEvent as DialogEvent,
    InDialogRequest as InDialogRequest,
    Termination as Termination,
)
from ._request import Request as Request
from ._response import Response as Response
from ._srf import (
    Srf as Srf,
    SrfStatistics as SrfStatistics,
    UacContext as UacContext,
    open_srf as open_srf,
)
from ._uas import UasContext as UasContext

__all__ = [
    "Acked",
    "B2buaContext",
    "Destroyed",
    "Dialog",
    "DialogEvent",
    "DialogState",
    "InDialogRequest",
    "Party",
    "Request",
    "Response",
    "Srf",
    "SrfStatistics",
    "Termination",
    "UacContext",
    "UasContext",
    "copy_headers",
    "open_srf",
]
