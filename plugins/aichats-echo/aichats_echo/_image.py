"""The ``image`` model's picture: an SVG card showing the prompt, as a ``data:`` URI.

The colour comes from a checksum of the prompt, so one prompt always gives the same image
and different prompts are easy to tell apart.
"""

from __future__ import annotations

import base64
import html
import re
import textwrap
import zlib

SIZE = 512
LINE_WIDTH = 28
"""Characters per line of text on the card."""
MAX_LINES = 10
MAX_TITLE = 200
"""Characters of the prompt kept in the SVG's <title>; the event's ``alt`` has all of it."""
FONT_SIZE = 24
LINE_HEIGHT = 30

# Characters XML 1.0 does not allow at all, even escaped: most C0 controls, lone surrogates
# (which could not be encoded to UTF-8 either) and the two non-characters U+FFFE/U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def svg_card(prompt: str) -> str:
    """An SVG document with the prompt written on a coloured rectangle; always well-formed XML."""
    clean = _NOT_XML.sub("", prompt)
    lines = textwrap.wrap(clean, LINE_WIDTH) or [""]
    if len(lines) > MAX_LINES:
        lines = [*lines[: MAX_LINES - 1], lines[MAX_LINES - 1][: LINE_WIDTH - 1] + "\u2026"]
    hue = zlib.crc32(prompt.encode("utf-8", "surrogatepass")) % 360
    first_y = SIZE / 2 - (len(lines) - 1) * LINE_HEIGHT / 2
    text = "".join(
        f'<tspan x="{SIZE // 2}" y="{first_y + index * LINE_HEIGHT:g}">{html.escape(line)}</tspan>'
        for index, line in enumerate(lines)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE}"'
        f' viewBox="0 0 {SIZE} {SIZE}">'
        f"<title>{html.escape(clean[:MAX_TITLE])}</title>"
        f'<rect width="{SIZE}" height="{SIZE}" rx="24" fill="hsl({hue}, 55%, 40%)"/>'
        f'<text font-family="sans-serif" font-size="{FONT_SIZE}" fill="#ffffff"'
        f' text-anchor="middle" dominant-baseline="middle">{text}</text>'
        "</svg>"
    )


def svg_data_uri(prompt: str) -> str:
    """``svg_card(prompt)`` as a ``data:image/svg+xml;base64,...`` URI."""
    encoded = base64.b64encode(svg_card(prompt).encode("utf-8")).decode("ascii")
    return f"data:image/svg+xml;base64,{encoded}"
