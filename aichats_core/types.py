"""Type aliases for annotations in providers and applications.

Import them under ``if TYPE_CHECKING:`` in a provider module, so that listing providers does
not import pydantic.
"""

from __future__ import annotations

from aichats_core._calls import Event
from aichats_core._models import MessageInput, ResultEvent
from aichats_core._provider import Messages, ProviderItem
from aichats_core._select import ProviderRef

__all__ = ["Event", "MessageInput", "Messages", "ProviderItem", "ProviderRef", "ResultEvent"]
