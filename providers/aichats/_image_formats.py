"""The image formats the emulator draws: names and MIME types, without the encoders.

``Script`` validates ``image_format`` at construction; the encoders (``_images``) are imported
only when an image is drawn, so a chat-only emulator never loads them.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["MIME_TYPES", "ImageFormat"]

ImageFormat = Literal["png", "jpeg"]

MIME_TYPES: dict[str, str] = {"png": "image/png", "jpeg": "image/jpeg"}
