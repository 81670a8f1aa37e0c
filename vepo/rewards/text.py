"""Text helpers shared by every reward component: sanitising, truncation, normalisation, n-grams, language codes.

One implementation, used by all components (so "empty", "too long" and "invalid UTF-8" mean the same everywhere).
"""

from __future__ import annotations

import math
import re

# What is compared is cut to TRUNCATE_FACTOR x (reference or source length) + TRUNCATE_SLACK characters; without
# either, to FALLBACK_MAX_CHARS. A degenerate 100k-character generation then costs no more than a normal one.
TRUNCATE_FACTOR = 4
TRUNCATE_SLACK = 200
FALLBACK_MAX_CHARS = 2000

_WS = re.compile(r"\s+")


def sanitize(text: object) -> tuple[str, bool]:
    """Return (valid UTF-8 str, changed?). None -> ""; bytes are decoded with replacement; lone surrogates and other
    unencodable code points become '?' (``.encode("utf-8", "replace").decode()``)."""
    if text is None:
        return "", False
    if isinstance(text, (bytes, bytearray)):
        clean = bytes(text).decode("utf-8", "replace")
        return clean, clean.encode("utf-8") != bytes(text)
    if not isinstance(text, str):
        text = str(text)
    try:
        text.encode("utf-8")
        return text, False
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8"), True


def drop_invalid(text: object) -> str:
    """`text` without the code points sanitize() would replace (used to tell "only garbage" from real content)."""
    if text is None:
        return ""
    if isinstance(text, (bytes, bytearray)):
        return bytes(text).decode("utf-8", "ignore")
    return str(text).encode("utf-8", "ignore").decode("utf-8")


def is_blank(text: str | None) -> bool:
    return text is None or not text.strip()


def compare_limit(reference: str | None = None, source: str | None = None) -> int:
    """Maximum number of hypothesis characters worth comparing (see TRUNCATE_FACTOR)."""
    base = reference if not is_blank(reference) else source
    if is_blank(base):
        return FALLBACK_MAX_CHARS
    return TRUNCATE_FACTOR * len(base) + TRUNCATE_SLACK


def truncate(text: str, limit: int) -> tuple[str, bool]:
    """Return (text cut to `limit` characters, was it cut?)."""
    if len(text) <= limit:
        return text, False
    return text[:limit], True


def normalize_space(text: str) -> str:
    """Collapse whitespace runs to one space and strip."""
    return _WS.sub(" ", text).strip()


def normalize_for_copy(text: str) -> str:
    """Case- and space-insensitive form used by the copy / echo checks."""
    return normalize_space(text).casefold()


def char_ngrams(text: str, n: int) -> list[str]:
    """All character n-grams of `text` (a text shorter than n gives itself, if non-empty)."""
    if len(text) < n:
        return [text] if text else []
    return [text[i : i + n] for i in range(len(text) - n + 1)]


def token_ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    if len(tokens) < n:
        return []
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def is_finite_number(x: object) -> bool:
    try:
        return math.isfinite(float(x))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def lang_script(code: str | None) -> str | None:
    """ISO 15924 script of a FLORES code: 'bod_Tibt' -> 'Tibt'; None when the code has no script suffix."""
    if not code or "_" not in code:
        return None
    script = code.rsplit("_", 1)[1]
    return script if len(script) == 4 and script.isalpha() else None


def lang_base(code: str | None) -> str | None:
    """Language part of a FLORES code: 'bod_Tibt' -> 'bod'."""
    if not code:
        return None
    return code.split("_", 1)[0].lower() or None
