"""Generated images: their bytes from what a provider answered, and a bounded store for
``response_format: "url"``.

The store lives in memory, bounded both in count and in bytes and forgetting the least
recently used image first: a URL is meant to be fetched soon after the answer, not kept.
Ids are random and unguessable, so a URL works without credentials, like OpenAI's signed
URLs, and is as private as the answer that carried it.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from typing import NamedTuple

MAX_STORED_IMAGES = 64
MAX_STORED_BYTES = 64 * 1024 * 1024

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}


class StoredImage(NamedTuple):
    data: bytes
    content_type: str


class ImageStore:
    """At most ``max_images`` images and ``max_bytes`` bytes, least recently used out first."""

    def __init__(
        self, max_images: int = MAX_STORED_IMAGES, max_bytes: int = MAX_STORED_BYTES
    ) -> None:
        self.max_images = max_images
        self.max_bytes = max_bytes
        self._images: OrderedDict[str, StoredImage] = OrderedDict()
        self._size = 0

    def __len__(self) -> int:
        return len(self._images)

    def put(self, data: bytes, content_type: str) -> str:
        """Keep an image; returns its file name (a random id with an extension)."""
        name = f"{secrets.token_urlsafe(18)}.{_EXTENSIONS.get(content_type, 'img')}"
        self._images[name] = StoredImage(data, content_type)
        self._size += len(data)
        while self._images and (len(self._images) > self.max_images or self._size > self.max_bytes):
            _, dropped = self._images.popitem(last=False)
            self._size -= len(dropped.data)
        return name

    def get(self, name: str) -> StoredImage | None:
        image = self._images.get(name)
        if image is not None:
            self._images.move_to_end(name)
        return image
