"""Integers as the kernel prints them: ASCII digits, an optional '-'.

``str.isdigit`` is True for '²' and other non-ASCII digits, which ``int`` then rejects (an internal
error in every command, issue 8); ``int`` also takes ' 12', '1_0', '+3' and Arabic-Indic digits,
none of which a kernel file holds. These accept only what the kernel writes.
"""

from __future__ import annotations


def is_uint(text: str) -> bool:
    """Whether ``text`` is a non-empty run of ASCII digits."""
    return text.isascii() and text.isdigit()


def to_int(text: str) -> int:
    """``text`` as an int: ASCII digits after an optional '-'.

    Raises:
        ValueError: anything else (the message quotes at most 20 characters).
    """
    if is_uint(text[1:] if text[:1] == "-" else text):
        return int(text)
    raise ValueError(f"not a number: {text[:20]!r}")
