"""Real image bytes drawn by code, so the emulator's image path can be checked end to end.

Stdlib only: a PNG encoder (``zlib`` + ``struct``) and a minimal baseline JPEG encoder
(JFIF, YCbCr 4:4:4, the example quantisation and Huffman tables of ITU T.81 Annex K).
Both draw the same picture: a red/green gradient under a blue checkerboard, varied by a seed
so that different prompts give visibly different images. Files can be padded to a requested
size with ancillary data (a private PNG chunk, JPEG ``COM`` segments) and still decode.
"""

from __future__ import annotations

import functools
import math
import struct
import zlib
from collections.abc import Sequence
from itertools import permutations
from operator import mul

from providers.aichats._image_formats import MIME_TYPES, ImageFormat

__all__ = ["MIME_TYPES", "ImageFormat", "draw", "encode_jpeg", "encode_png", "pattern"]

_PAD_PATTERN = b"aichats-emulator-padding "
_CHANNEL_ORDERS = list(permutations(range(3)))


def pattern(width: int, height: int, seed: int = 0) -> list[bytes]:
    """Rows of packed RGB pixels: a gradient with a checkerboard, so it is visibly a picture.

    Built with slice assignment rather than per-pixel Python code so large images stay cheap.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    r_channel, g_channel, b_channel = _CHANNEL_ORDERS[seed % len(_CHANNEL_ORDERS)]
    cell = (4, 8, 16)[(seed // len(_CHANNEL_ORDERS)) % 3]
    x_ramp = bytes(x * 255 // max(width - 1, 1) for x in range(width))
    checker = [
        bytes(200 if ((x // cell) + phase) & 1 else 40 for x in range(width)) for phase in (0, 1)
    ]
    rows: list[bytes] = []
    for y in range(height):
        row = bytearray(3 * width)
        row[r_channel::3] = x_ramp
        row[g_channel::3] = bytes((y * 255 // max(height - 1, 1),)) * width
        row[b_channel::3] = checker[(y // cell) & 1]
        rows.append(bytes(row))
    return rows


# --------------------------------------------------------------------------- PNG


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _padding(size: int) -> bytes:
    return (_PAD_PATTERN * (size // len(_PAD_PATTERN) + 1))[:size]


def encode_png(
    width: int, height: int, rows: Sequence[bytes], *, pad_to: int | None = None
) -> bytes:
    """Encode 8-bit RGB rows as a PNG.

    ``pad_to`` grows the file to exactly that many bytes (when it is at least 12 bytes more
    than the natural size) with a private ancillary chunk ``paDd``, which decoders skip: the
    benchmarks need multi-megabyte images that are still valid.
    """
    if len(rows) != height or any(len(row) != 3 * width for row in rows):
        raise ValueError("rows do not match the image size")
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit truecolour
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 on every scanline
    parts = [
        b"\x89PNG\r\n\x1a\n",
        _png_chunk(b"IHDR", header),
        _png_chunk(b"IDAT", zlib.compress(raw, 6)),
    ]
    end = _png_chunk(b"IEND", b"")
    natural = sum(map(len, parts)) + len(end)
    if pad_to is not None and pad_to - natural >= 12:
        parts.append(_png_chunk(b"paDd", _padding(pad_to - natural - 12)))
    parts.append(end)
    return b"".join(parts)


# --------------------------------------------------------------------------- JPEG

# Annex K.1 / K.2 quantisation tables, in natural (row-major) order.
_LUMA_QUANT = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
_CHROMA_QUANT = (
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
) + (99,) * 32  # fmt: skip

# Annex K.3 - K.6 Huffman tables: code counts per length 1..16, then the symbols.
_DC_LUMA_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
_DC_CHROMA_BITS = (0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0)
_DC_VALUES = tuple(range(12))
_AC_LUMA_BITS = (0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D)
_AC_LUMA_VALUES = bytes.fromhex(
    "01020300041105122131410613516107227114328191a1082342b1c11552d1f0"
    "2433627282090a161718191a25262728292a3435363738393a434445464748494a"
    "535455565758595a636465666768696a737475767778797a838485868788898a"
    "92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7"
    "c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9fa"
)
_AC_CHROMA_BITS = (0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77)
_AC_CHROMA_VALUES = bytes.fromhex(
    "000102031104052131061241510761711322328108144291a1b1c109233352f0"
    "156272d10a162434e125f11718191a262728292a35363738393a434445464748"
    "494a535455565758595a636465666768696a737475767778797a82838485868788"
    "898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5"
    "c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9fa"
)


def _zigzag() -> tuple[int, ...]:
    """Natural index of each zig-zag position (T.81 figure A.6), derived rather than typed."""
    order: list[int] = []
    for diagonal in range(15):
        cells = [(row, diagonal - row) for row in range(8) if 0 <= diagonal - row < 8]
        if diagonal % 2 == 0:
            cells.reverse()  # even diagonals run bottom-left to top-right
        order.extend(row * 8 + col for row, col in cells)
    return tuple(order)


_ZIGZAG = _zigzag()

HuffmanCodes = dict[int, tuple[int, int]]


def _huffman_codes(bits: Sequence[int], values: Sequence[int]) -> HuffmanCodes:
    """Canonical code assignment of T.81 Annex C: symbol -> (code, length)."""
    codes: HuffmanCodes = {}
    code = 0
    index = 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            codes[values[index]] = (code, length)
            code += 1
            index += 1
        code <<= 1
    return codes


def _scaled_quant(table: Sequence[int], quality: int) -> list[int]:
    """IJG quality scaling of an Annex K table (50 gives the table itself)."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(max((q * scale + 50) // 100, 1), 255) for q in table]


def _dct_basis(quant: Sequence[int]) -> list[tuple[float, ...]]:
    """One row per zig-zag coefficient: forward-DCT weights already divided by the quantiser.

    A coefficient is then ``round(sum(map(mul, block, row)))``, a loop that runs in C.
    """

    def c(k: int) -> float:
        return math.sqrt(0.5) if k == 0 else 1.0

    cos = [[math.cos((2 * x + 1) * u * math.pi / 16) for x in range(8)] for u in range(8)]
    rows: list[tuple[float, ...]] = []
    for natural in _ZIGZAG:
        v, u = divmod(natural, 8)  # v: vertical frequency, u: horizontal frequency
        weight = 0.25 * c(u) * c(v) / quant[natural]
        rows.append(tuple(weight * cos[v][y] * cos[u][x] for y in range(8) for x in range(8)))
    return rows


class _BitWriter:
    """Entropy-coded segment writer with 0xFF byte stuffing (T.81 F.1.2.3)."""

    __slots__ = ("_acc", "_bits", "out")

    def __init__(self) -> None:
        self._acc = 0
        self._bits = 0
        self.out = bytearray()

    def put(self, value: int, length: int) -> None:
        self._acc = (self._acc << length) | (value & ((1 << length) - 1))
        self._bits += length
        while self._bits >= 8:
            self._bits -= 8
            byte = (self._acc >> self._bits) & 0xFF
            self.out.append(byte)
            if byte == 0xFF:
                self.out.append(0)
        self._acc &= (1 << self._bits) - 1

    def flush(self) -> bytes:
        if self._bits:
            self.put(0x7F, 8 - self._bits)  # pad with one-bits
        return bytes(self.out)


def _encode_block(
    writer: _BitWriter,
    coefficients: Sequence[int],
    previous_dc: int,
    dc_codes: HuffmanCodes,
    ac_codes: HuffmanCodes,
) -> int:
    """Huffman-code one quantised block (zig-zag order); returns its DC for the next diff."""
    dc = coefficients[0]
    diff = dc - previous_dc
    size = abs(diff).bit_length()
    writer.put(*dc_codes[size])
    if size:
        writer.put(diff if diff > 0 else diff - 1, size)
    run = 0
    for value in coefficients[1:]:
        if value == 0:
            run += 1
            continue
        while run > 15:
            writer.put(*ac_codes[0xF0])  # ZRL: sixteen zeros
            run -= 16
        value = max(-1023, min(1023, value))
        size = abs(value).bit_length()
        writer.put(*ac_codes[(run << 4) | size])
        writer.put(value if value > 0 else value - 1, size)
        run = 0
    if run:
        writer.put(*ac_codes[0x00])  # EOB
    return dc


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", 0xFF00 | marker, len(payload) + 2) + payload


def _comment_segments(size: int) -> list[bytes]:
    """COM segments totalling exactly ``size`` bytes (``size`` >= 4): ancillary padding."""
    count = -(-size // 65537)  # a segment holds at most 65533 bytes plus 4 of marker/length
    payload = size - 4 * count
    segments = []
    for index in range(count):
        length = payload // count + (1 if index < payload % count else 0)
        segments.append(_segment(0xFE, _padding(length)))
    return segments


def encode_jpeg(
    width: int,
    height: int,
    rows: Sequence[bytes],
    *,
    quality: int = 85,
    pad_to: int | None = None,
) -> bytes:
    """Encode 8-bit RGB rows as a baseline JFIF JPEG (YCbCr, no subsampling).

    Pure Python, so large images take a while (about 0.2 ms per 8x8 block per channel).
    ``pad_to`` grows the file with ``COM`` segments when at least 4 bytes are missing.
    """
    if len(rows) != height or any(len(row) != 3 * width for row in rows):
        raise ValueError("rows do not match the image size")
    if not 1 <= quality <= 100:
        raise ValueError("quality must be within 1..100")
    luma_q = _scaled_quant(_LUMA_QUANT, quality)
    chroma_q = _scaled_quant(_CHROMA_QUANT, quality)
    luma_basis = _dct_basis(luma_q)
    chroma_basis = _dct_basis(chroma_q)

    # Colour conversion (JFIF) with the level shift; edges replicated to whole 8x8 blocks.
    padded_w = -(-width // 8) * 8
    padded_h = -(-height // 8) * 8
    planes: tuple[list[float], list[float], list[float]] = ([], [], [])
    for y in range(padded_h):
        row = rows[min(y, height - 1)]
        for x in range(padded_w):
            i = 3 * min(x, width - 1)
            r, g, b = row[i], row[i + 1], row[i + 2]
            planes[0].append(0.299 * r + 0.587 * g + 0.114 * b - 128)
            planes[1].append(-0.168736 * r - 0.331264 * g + 0.5 * b)
            planes[2].append(0.5 * r - 0.418688 * g - 0.081312 * b)

    dc_luma = _huffman_codes(_DC_LUMA_BITS, _DC_VALUES)
    dc_chroma = _huffman_codes(_DC_CHROMA_BITS, _DC_VALUES)
    ac_luma = _huffman_codes(_AC_LUMA_BITS, _AC_LUMA_VALUES)
    ac_chroma = _huffman_codes(_AC_CHROMA_BITS, _AC_CHROMA_VALUES)
    components = (
        (planes[0], luma_basis, dc_luma, ac_luma),
        (planes[1], chroma_basis, dc_chroma, ac_chroma),
        (planes[2], chroma_basis, dc_chroma, ac_chroma),
    )
    writer = _BitWriter()
    predictors = [0, 0, 0]
    for block_y in range(0, padded_h, 8):
        for block_x in range(0, padded_w, 8):
            for index, (plane, basis, dc_codes, ac_codes) in enumerate(components):
                block: list[float] = []
                for y in range(block_y, block_y + 8):
                    start = y * padded_w + block_x
                    block.extend(plane[start : start + 8])
                coefficients = [round(sum(map(mul, block, weights))) for weights in basis]
                predictors[index] = _encode_block(
                    writer, coefficients, predictors[index], dc_codes, ac_codes
                )

    def dht(table_class: int, table_id: int, bits: Sequence[int], values: Sequence[int]) -> bytes:
        return bytes((table_class << 4 | table_id, *bits, *values))

    head = [
        b"\xff\xd8",
        _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
        _segment(
            0xDB,
            bytes((0, *(luma_q[i] for i in _ZIGZAG), 1, *(chroma_q[i] for i in _ZIGZAG))),
        ),
        _segment(
            0xC0,
            struct.pack(">BHHB", 8, height, width, 3) + bytes((1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1)),
        ),
        _segment(
            0xC4,
            dht(0, 0, _DC_LUMA_BITS, _DC_VALUES)
            + dht(1, 0, _AC_LUMA_BITS, _AC_LUMA_VALUES)
            + dht(0, 1, _DC_CHROMA_BITS, _DC_VALUES)
            + dht(1, 1, _AC_CHROMA_BITS, _AC_CHROMA_VALUES),
        ),
        _segment(0xDA, bytes((3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0))),
    ]
    tail = [writer.flush(), b"\xff\xd9"]
    natural = sum(map(len, head)) + sum(map(len, tail))
    if pad_to is not None and pad_to - natural >= 4:
        head[2:2] = _comment_segments(pad_to - natural)  # after APP0, before the tables
    return b"".join(head + tail)


def draw(
    image_format: ImageFormat, width: int, height: int, seed: int = 0, pad_to: int | None = None
) -> bytes:
    """The emulator's image for these parameters, memoised: benchmarks ask for the same
    multi-megabyte file many times, and the JPEG encoder is pure Python."""
    return _draw_cached(image_format, width, height, seed, pad_to)


@functools.lru_cache(maxsize=8)  # a padded image can be megabytes: keep few
def _draw_cached(
    image_format: ImageFormat, width: int, height: int, seed: int, pad_to: int | None
) -> bytes:
    rows = pattern(width, height, seed)
    if image_format == "png":
        return encode_png(width, height, rows, pad_to=pad_to)
    if image_format == "jpeg":
        return encode_jpeg(width, height, rows, pad_to=pad_to)
    raise ValueError(f"unknown image format {image_format!r}")
