"""The text answers: a message cut into words, and deterministic lorem ipsum."""

from __future__ import annotations

import re

_WORD = re.compile(r"\s*\S+\s*")

_LOREM_TEXT = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt"
    " ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation"
    " ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in"
    " reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. Excepteur"
    " sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id"
    " est laborum."
)
_LOREM = _LOREM_TEXT.split()


def split_words(text: str) -> list[str]:
    """Cut ``text`` into words, each keeping the whitespace around it.

    The pieces join back to exactly ``text``, so a streamed echo equals the message:

    >>> split_words("  hello  there\\n")
    ['  hello  ', 'there\\n']
    """
    words = _WORD.findall(text)
    return words if words else ([text] if text else [])


def group(words: list[str], size: int) -> list[str]:
    """Join ``words`` into chunks of ``size`` words each (the last one may be shorter)."""
    return ["".join(words[start : start + size]) for start in range(0, len(words), size)]


def lorem(words: int) -> str:
    """The first ``words`` words of lorem ipsum, repeated as needed, ending with a full stop.

    >>> lorem(5)
    'Lorem ipsum dolor sit amet.'
    """
    if words <= 0:
        return ""
    chosen = [_LOREM[index % len(_LOREM)] for index in range(words)]
    chosen[-1] = chosen[-1].rstrip(".,") + "."
    return " ".join(chosen)
