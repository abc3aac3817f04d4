"""Text hygiene for e-mail headers, bodies and calendar fields: no control characters, no unsafe links."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

_SPACES = re.compile(r"\s+")


def is_control(char: str) -> bool:
    """Tell whether ``char`` is a control, format (invisible) or line/paragraph separator character."""
    return unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")


def printable(token: str, limit: int = 60) -> str:
    """Show a bad token to the user with control characters made visible and its length capped."""
    shown = "".join(repr(char)[1:-1] if is_control(char) else char for char in token)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def clean_line(value: Any, limit: int | None = None) -> str:
    """Flatten text for a header or a one-line field: no control characters, single spaces."""
    text = "" if value is None else str(value)
    text = "".join(" " if is_control(char) else char for char in text)
    text = _SPACES.sub(" ", text).strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def clean_block(value: Any) -> str:
    """Keep line breaks of multi-line text but drop every other control character."""
    text = "" if value is None else str(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(char if char in "\n\t" or not is_control(char) else " " for char in text)
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def safe_url(value: Any) -> str | None:
    """Return the link if it is a plain http(s) URL safe to put in href and URL properties."""
    link = clean_line(value)
    if not link or " " in link or '"' in link or "<" in link or ">" in link:
        return None
    return link if link.lower().startswith(("https://", "http://")) else None
