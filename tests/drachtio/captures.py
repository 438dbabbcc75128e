"""Loaders for the drachtio ground truth kept outside the repo (never copied into it).

* The relay transcripts in ``../shared/data/drachtio-wire/NN-*.txt`` (format in
  that folder's README.md): each frame is a ``>>>`` header naming the direction
  and the length prefix as sent, then the payload one line per ``| `` line
  (CRLF between lines on the wire), then ``<<< end of frame``.
* The worked examples of §16 of ``../shared/docs/drachtio-wire-protocol.md``:
  a frame starts on a line ``<digits>#``; ``⏎`` stands for CRLF and a line
  ending without it (or the closing code fence) ends the frame.

The CI clone has ``../shared/`` beside the repo; tests skip with a clear reason
when it is absent.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CAPTURE_DIR = SHARED / "data" / "drachtio-wire"
SPEC = SHARED / "docs" / "drachtio-wire-protocol.md"

_HEADER_RE = re.compile(
    r"^>>> \[(\d{4})\] t=\+\s*[0-9.]+s\s+(conn\d+)\s+(APP|SERVER) ==> (APP|SERVER)\s+"
    r"length-prefix=(\d+) \((\d+) payload bytes\)$"
)


@attrs.frozen
class Frame:
    """One frame as it crossed the wire.

    Attributes:
        source: Where it comes from (file name and frame number, or example).
        sender: ``"APP"`` or ``"SERVER"``.
        conn: The relay's connection label (``conn1``); examples use ``ex``.
        prefix: The length digits exactly as sent.
        payload: The payload bytes.
    """

    source: str
    sender: str
    conn: str
    prefix: str
    payload: bytes

    @property
    def wire(self) -> bytes:
        """The frame bytes: prefix, ``#``, payload."""
        return self.prefix.encode("ascii") + b"#" + self.payload


def capture_files() -> list[Path]:
    """The transcript files (not the ``.sip.txt`` SIPp logs), sorted."""
    return sorted(
        p for p in CAPTURE_DIR.glob("[0-9][0-9]-*.txt") if not p.name.endswith(".sip.txt")
    )


def load_capture(path: Path) -> list[Frame]:
    """Parse one transcript into frames, in order.

    Raises:
        ValueError: the file does not follow the documented format.
    """
    frames: list[Frame] = []
    lines = path.read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines):
        m = _HEADER_RE.match(lines[i])
        if m is None:
            if lines[i].startswith(("|", "<<<", ">>>")):
                raise ValueError(f"{path.name}:{i + 1}: stray line {lines[i]!r}")
            i += 1
            continue
        number, conn, sender, receiver, prefix, count = m.groups()
        if sender == receiver:
            raise ValueError(f"{path.name}:{i + 1}: frame from {sender} to itself")
        body: list[str] = []
        i += 1
        while lines[i] != "<<< end of frame":
            if not lines[i].startswith("| "):
                raise ValueError(f"{path.name}:{i + 1}: payload line without '| '")
            if "[bare-LF]" in lines[i]:
                raise ValueError(f"{path.name}:{i + 1}: bare LF markers are not handled")
            body.append(lines[i][2:])
            i += 1
        payload = "\r\n".join(body).encode("utf-8")
        if int(count) != len(payload):
            raise ValueError(f"{path.name} frame {number}: {count} bytes said, {len(payload)} read")
        frames.append(Frame(f"{path.name}#{number}", sender, conn, prefix, payload))
        i += 1
    return frames


def load_spec_examples() -> list[Frame]:
    """Every frame of §16's worked examples, in order, with its direction."""
    text = SPEC.read_text(encoding="utf-8")
    section = text[text.index("## 16. Worked examples") : text.index("## 17.")]
    lines = section.split("\n")
    frames: list[Frame] = []
    sender = ""
    example = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("### Example "):
            example = line.split()[2]
        if line.startswith("APP → SERVER"):
            sender = "APP"
        elif line.startswith("SERVER → APP"):
            sender = "SERVER"
        m = re.match(r"^(\d+)#", line)
        if m is None:
            i += 1
            continue
        parts = [line[m.end() :]]
        # A code fence right after a ⏎ line ends the frame too.
        while parts[-1].endswith("⏎") and not lines[i + 1].startswith("```"):
            i += 1
            parts.append(lines[i])
        payload = "".join(p[:-1] + "\r\n" if p.endswith("⏎") else p for p in parts)
        if "⏎" in payload:
            raise ValueError(f"example {example}: stray ⏎ inside a line")
        frames.append(
            Frame(f"example {example} #{len(frames)}", sender, "ex", m.group(1), payload.encode())
        )
        i += 1
    return frames
