"""What a call to AiChats may set, beyond the core's ``timeout`` and ``session``.

Its own module, named by ``AiChats.Options``, so that listing providers imports no pydantic.
"""

from __future__ import annotations

from pydantic import ConfigDict

from aichats_core.options import ImageOptions


class AiChatsOptions(ImageOptions):
    """AiChats' options: where to send, cookies, and the image download's."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    base_url: str | None = None
    """Send requests to this site instead (the emulator's URL, say)."""
    cookies: str | dict[str, str] | None = None
    """Cookies for the service: a dict, or ``"name=value; ..."`` copied from a browser."""
