"""Generated images kept for ``response_format: "url"``: a bounded store in memory.

The store is bounded both in count and in bytes and forgets the least recently used image
first: a URL is meant to be fetched soon after the answer, not kept. Ids are random and
unguessable, so a URL works without credentials, like OpenAI's signed URLs, and is as private
as the answer that carried it. Only raster types are kept: the files are served from the
API's own origin, where an SVG (which can hold scripts) has no business.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Iterable
from typing import NamedTuple

FILES_PATH = "/v1/images/files/"
"""Where the stored images are served, each under its file name."""
MAX_STORED_IMAGES = 64
MAX_STORED_BYTES = 64 * 1024 * 1024

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}
SERVED_TYPES = frozenset(_EXTENSIONS)
"""The image types the store keeps."""


class StoredImage(NamedTuple):
    data: bytes
    content_type: str


class ImageStore:
    """At most ``max_images`` images and ``max_bytes`` bytes, least recently used out first.

    Images put together (one answer's) never push each other out: a batch over either bound
    is refused, so that no URL handed out is dead on arrival.
    """

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
        [name] = self.put_all([StoredImage(data, content_type)])
        return name

    def put_all(self, images: Iterable[StoredImage]) -> list[str]:
        """Keep images together; their file names, in order. ``ValueError`` for a type the
        store does not serve, or for more images or bytes than it holds at all."""
        batch = list(images)
        for image in batch:
            if image.content_type not in SERVED_TYPES:
                raise ValueError(
                    f"the image store keeps only {', '.join(sorted(SERVED_TYPES))},"
                    f" not {image.content_type!r}"
                )
        size = sum(len(image.data) for image in batch)
        if len(batch) > self.max_images or size > self.max_bytes:
            raise ValueError(
                f"{len(batch)} images of {size} bytes do not fit in a store of"
                f" {self.max_images} images and {self.max_bytes} bytes"
            )
        while self._images and (
            len(self._images) + len(batch) > self.max_images or self._size + size > self.max_bytes
        ):
            _, dropped = self._images.popitem(last=False)
            self._size -= len(dropped.data)
        names = []
        for image in batch:
            name = f"{secrets.token_urlsafe(18)}.{_EXTENSIONS[image.content_type]}"
            self._images[name] = image
            names.append(name)
        self._size += size
        return names

    def get(self, name: str) -> StoredImage | None:
        image = self._images.get(name)
        if image is not None:
            self._images.move_to_end(name)
        return image
