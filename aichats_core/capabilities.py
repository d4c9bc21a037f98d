"""What a provider can take and produce beyond plain text, as it declares it.

A provider class sets ``capabilities`` to a set of these names; the core checks every call
against it before any network: a call that needs one (tools, a JSON answer, an image in a
message) is refused for a provider that lacks it (``CapabilityError``), and a fallback chain
skips such a provider. ``max_tokens`` and ``stop`` go to a provider that declares them; for
the others the core enforces them on the answer itself::

    class MyProvider(AsyncGeneratorProvider):
        capabilities = frozenset({TOOLS, JSON_OUTPUT, MAX_TOKENS, STOP})

Importing this module imports nothing else.
"""

from __future__ import annotations

__all__ = [
    "CAPABILITIES",
    "IMAGE_INPUT",
    "JSON_OUTPUT",
    "MAX_TOKENS",
    "STOP",
    "TOOLS",
    "capabilities_of",
]

TOOLS = "tools"
"""Takes ``tools`` and ``tool_choice``, and messages with ``tool_calls`` and ``tool`` roles;
yields ``ToolCall`` events."""
JSON_OUTPUT = "json_output"
"""Takes ``response_format`` (``json_object``, ``json_schema``)."""
IMAGE_INPUT = "image_input"
"""Takes messages with image parts (``ImagePart``); others get text parts joined."""
MAX_TOKENS = "max_tokens"
"""Takes ``max_tokens`` and applies it itself (and says ``FinishReason("length")``)."""
STOP = "stop"
"""Takes ``stop`` sequences and applies them itself."""

CAPABILITIES = frozenset({TOOLS, JSON_OUTPUT, IMAGE_INPUT, MAX_TOKENS, STOP})
"""Every capability a provider may declare."""


def capabilities_of(provider: type) -> frozenset[str]:
    """What ``provider`` declares (nothing, for a provider from before capabilities)."""
    declared = getattr(provider, "capabilities", None)
    if type(declared) is frozenset:
        return declared
    return frozenset(declared) if declared else _NONE


_NONE: frozenset[str] = frozenset()
