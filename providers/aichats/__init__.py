"""The AiChats provider (ai-chats.org) and its local emulator (``providers.aichats.emulator``)."""

from __future__ import annotations

from providers.aichats._provider import AiChats

__all__ = ["AiChats"]
