"""g4f's helpers for reading messages and making random tokens."""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable, Iterator, Mapping
from typing import Any


def to_string(value: object) -> str:
    """The text of a message's content: a string, a ``{"text": ...}`` part, or a list of
    parts (strings, or dicts of ``type`` ``"text"``) joined without separator."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        text = value.get("text", "")
        return text if isinstance(text, str) else ""
    if isinstance(value, list | tuple):
        return "".join(
            to_string(part)
            for part in value
            # a part without a type is text, as g4f reads it
            if isinstance(part, str)
            or (isinstance(part, dict) and part.get("type", "text") == "text")
        )
    return "" if value is None else str(value)


def format_prompt(
    messages: Iterable[Mapping[str, Any]], add_special_tokens: bool = False,
    do_continue: bool = False,
) -> str:  # fmt: skip
    """The conversation as one prompt.

    A single message, without ``add_special_tokens``, is its content alone. Otherwise each
    message is a ``"Role: content"`` line (the role capitalised: ``User``, ``Assistant``,
    ``System``), joined with ``"\\n"``, followed by ``"\\nAssistant:"`` unless
    ``do_continue``.
    """
    messages = list(messages)
    if not add_special_tokens and len(messages) == 1:
        return to_string(messages[0].get("content"))
    lines = "\n".join(
        f"{str(message.get('role', '')).capitalize()}: {to_string(message.get('content'))}"
        for message in messages
    )
    return lines if do_continue else f"{lines}\nAssistant:"


def get_last_user_message(messages: Iterable[Mapping[str, Any]]) -> str:
    """The last turn of the user, as g4f reads it: trailing messages of other roles are
    skipped, then the unbroken run of ``user`` messages before them, each stripped, is joined
    with ``"\n"``; ``""`` when there is none. (Unlike g4f, ``messages`` is left as it was.)"""
    run: list[str] = []
    for message in reversed(list(messages)):
        if message.get("role") == "user":
            run.append(to_string(message.get("content")).strip())
        elif run:
            break
    return "\n".join(reversed(run))


def format_image_prompt(messages: Iterable[Mapping[str, Any]], prompt: str | None = None) -> str:
    """``prompt`` when given, else the last user message."""
    return get_last_user_message(messages) if prompt is None else prompt


format_media_prompt = format_image_prompt


def get_system_prompt(messages: Iterable[Mapping[str, Any]]) -> str:
    """The contents of the ``system`` (and ``developer``) messages, joined with ``"\\n"``."""
    return "\n".join(
        to_string(message.get("content"))
        for message in messages
        if message.get("role") in ("system", "developer")
    )


def merge_media(
    media: Iterable[Any] | None, messages: Iterable[Mapping[str, Any]]
) -> Iterator[tuple[Any, str | None]]:
    """The media of a call as ``(data, name)`` pairs: the ``media`` argument's (a pair, or
    data alone), then the ``image_url`` parts of the user's messages (URL, no name)."""
    for item in media or ():
        yield (item[0], item[1]) if isinstance(item, tuple | list) else (item, None)
    for message in messages:
        content = message.get("content")
        if message.get("role") != "user" or not isinstance(content, list):
            continue
        for part in content:
            if isinstance(part, dict) and part.get("type") == "image_url":
                image = part.get("image_url")
                url = image.get("url") if isinstance(image, dict) else image
                if isinstance(url, str) and url:
                    yield url, None


def get_random_string(length: int = 10) -> str:
    """Random lowercase letters and digits."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def get_random_hex(length: int = 32) -> str:
    """Random lowercase hexadecimal digits."""
    return "".join(secrets.choice("0123456789abcdef") for _ in range(length))


def filter_none(**kwargs: Any) -> dict[str, Any]:
    """The keyword arguments whose value is not None."""
    return {key: value for key, value in kwargs.items() if value is not None}
