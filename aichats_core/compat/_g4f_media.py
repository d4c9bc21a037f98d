"""g4f's image helpers: the bytes of an image a call carries, its type, its data URI."""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any

from aichats_core.errors import InvalidRequestError


def is_accepted_format(binary_data: bytes) -> str:
    """The MIME type of an image's bytes (PNG, JPEG, GIF, BMP, WebP), or
    ``InvalidRequestError`` (a ``ValueError``, as g4f raises) for anything else."""
    from aichats_core.http import sniff_image_type

    mime = sniff_image_type(bytes(binary_data[:16]))
    if mime is None:
        raise InvalidRequestError(
            "the image is not PNG, JPEG, GIF, BMP or WebP (by its first bytes)"
        )
    return mime


def to_bytes(image: Any) -> bytes:
    """The bytes of an image given as bytes, a ``data:`` URI, a file path, or a readable
    file object."""
    if isinstance(image, bytes | bytearray | memoryview):
        return bytes(image)
    if isinstance(image, str) and image.startswith("data:"):
        _, comma, data = image.partition(",")
        try:
            return base64.b64decode(data, validate=True) if comma else b""
        except binascii.Error:
            raise InvalidRequestError("the image's data URI is not valid base64") from None
    if isinstance(image, str | os.PathLike):
        try:
            with open(image, "rb") as file:
                return file.read()
        except OSError as exc:
            raise InvalidRequestError(f"cannot read the image {image!s:.80}: {exc}") from None
    read = getattr(image, "read", None)
    if callable(read):
        data = read()
        if isinstance(data, bytes):
            return data
    raise InvalidRequestError(
        f"an image is bytes, a data URI, a path or a binary file, not {type(image).__name__}"
    )


def to_data_uri(image: Any, filename: str | None = None) -> str:
    """The image as a ``data:`` URI (one given as a data URI is returned as it is)."""
    if isinstance(image, str) and image.startswith("data:"):
        return image
    data = to_bytes(image)
    return f"data:{is_accepted_format(data)};base64,{base64.b64encode(data).decode()}"
