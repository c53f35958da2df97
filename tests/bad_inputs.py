"""A corpus of awkward and hostile image uploads, built in memory (no binary files committed).

Shared by the library's tests (``tests/data/test_bad_inputs.py``) and the app's upload tests. Every
case is a name -> bytes; ``EXPECT[name]`` says whether ``decode_image`` must decode it (``"ok"``)
or refuse it with a ``DataError`` (``"error"``). For "ok" cases ``SHAPE[name]`` is the decoded
array's shape at the default ``mode=None``; for "error" cases ``ERROR_MATCH[name]`` is a regex the
message must match (it says what is wrong). ``SUFFIX[name]`` is a plausible file extension for
writing the case to disk.

Not a test module (no ``test_`` prefix): load it by path, e.g. with
``importlib.util.spec_from_file_location``, since pytest runs with ``--import-mode=importlib``.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib

import numpy as np
from PIL import Image

__all__ = ["ERROR_MATCH", "EXPECT", "SHAPE", "SUFFIX", "corpus", "patch_png_size"]

# Larger than decode_image's default max_pixels (4e7) and Pillow's MAX_IMAGE_PIXELS (~8.9e7),
# but a real, valid PNG: 1-bit, so it is 18 KB on disk.
LARGE_SIDE = 12_000
# A 1-bit image under the default max_pixels that must decode in reasonable time and memory.
BIG_OK_SIDE = 4_096
# What the decompression bomb's header claims: 2.5e9 pixels (7.5 GB as RGB) in about 100 bytes.
BOMB_SIDE = 50_000

EXPECT: dict[str, str] = {
    "empty": "error",
    "random_bytes": "error",
    "text": "error",
    "pdf_header": "error",
    "png_signature_then_garbage": "error",
    "png_bad_crc": "error",
    "png_truncated": "error",
    "jpeg_truncated": "error",
    "jpeg_header_only": "error",
    "bomb_png_50000x50000": "error",
    "large_png_12000x12000": "error",
    "big_1bit_png_4096": "ok",
    "one_pixel_png": "ok",
    "png_16bit": "ok",
    "jpeg_cmyk": "ok",
    "png_rgba": "ok",
    "gif_palette": "ok",
    "gif_animated": "ok",
    "jpeg_exif_rotated": "ok",
    "png_grayscale": "ok",
    "jpeg_grayscale": "ok",
}

SHAPE: dict[str, tuple[int, ...]] = {
    "big_1bit_png_4096": (BIG_OK_SIDE, BIG_OK_SIDE),
    "one_pixel_png": (1, 1, 3),
    "png_16bit": (6, 5),
    "jpeg_cmyk": (8, 8, 3),
    "png_rgba": (4, 6, 3),
    "gif_palette": (4, 4, 3),
    "gif_animated": (5, 7, 3),
    "jpeg_exif_rotated": (40, 20, 3),  # stored 20 high x 40 wide; orientation 6 swaps them
    "png_grayscale": (3, 4),
    "jpeg_grayscale": (16, 24),
}

ERROR_MATCH: dict[str, str] = {
    "empty": r"empty \(0 bytes\)",
    "random_bytes": r"not a recognised image format",
    "text": r"not a recognised image format",
    "pdf_header": r"not a recognised image format .*%PDF",
    "png_signature_then_garbage": r"not a recognised image format|corrupt or truncated",
    "png_bad_crc": r"corrupt or truncated",
    "png_truncated": r"corrupt or truncated",
    "jpeg_truncated": r"corrupt or truncated",
    "jpeg_header_only": r"corrupt or truncated|not a recognised image format",
    "bomb_png_50000x50000": r"decompression bomb",
    "large_png_12000x12000": rf"{LARGE_SIDE}x{LARGE_SIDE}.*max_pixels|decompression bomb",
}

SUFFIX: dict[str, str] = {
    name: (
        ".jpg"
        if name.startswith("jpeg")
        else ".gif"
        if name.startswith("gif")
        else ".pdf"
        if name.startswith("pdf")
        else ".txt"
        if name == "text"
        else ".png"
    )
    for name in EXPECT
}


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _png_chunks(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """(offset, type, body) of each chunk after the 8-byte PNG signature."""
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append((pos, data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def patch_png_size(png: bytes, width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width x height``, with a valid CRC (pixel data unchanged)."""
    offset, kind, body = _png_chunks(png)[0]
    if kind != b"IHDR":
        raise ValueError("not a PNG: the first chunk is not IHDR")
    new_body = struct.pack(">II", width, height) + body[8:]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + new_body) & 0xFFFFFFFF)
    return png[: offset + 8] + new_body + crc + png[offset + 8 + len(body) + 4 :]


def _png_with_bad_crc(png: bytes) -> bytes:
    """Flip one byte inside the IDAT data (its CRC no longer matches)."""
    offset, _, body = next(c for c in _png_chunks(png) if c[1] == b"IDAT")
    pos = offset + 8 + len(body) // 2
    return png[:pos] + bytes([png[pos] ^ 0xFF]) + png[pos + 1 :]


def _noise(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@functools.cache
def _build() -> dict[str, bytes]:
    noisy_png = _encode(Image.fromarray(_noise((32, 32, 3), 1)), "PNG")
    noisy_jpeg = _encode(Image.fromarray(_noise((64, 64, 3), 2)), "JPEG", quality=90)
    sos = noisy_jpeg.index(b"\xff\xda")  # start of scan: everything before it is header

    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    frames = [Image.new("RGB", (7, 5), colour) for colour in ((255, 0, 0), (0, 0, 255))]

    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, np.arange(6, dtype=np.uint8) * 50  # red fading in
    rotated = Image.new("RGB", (40, 20), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation 6: display rotated 90 degrees clockwise
    sixteen = (np.arange(30, dtype=np.uint16) * 2000).reshape(6, 5)

    cases = {
        "empty": b"",
        "random_bytes": _noise((777,), 3).tobytes(),
        "text": b"name,label\ncat,1\ndog,2\n",
        "pdf_header": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
        "png_signature_then_garbage": b"\x89PNG\r\n\x1a\n" + _noise((200,), 4).tobytes(),
        "png_bad_crc": _png_with_bad_crc(noisy_png),
        "png_truncated": noisy_png[: len(noisy_png) // 2],
        "jpeg_truncated": noisy_jpeg[: sos + (len(noisy_jpeg) - sos) // 3],
        "jpeg_header_only": noisy_jpeg[:sos],
        "bomb_png_50000x50000": patch_png_size(
            _encode(Image.new("L", (8, 8)), "PNG"), BOMB_SIDE, BOMB_SIDE
        ),
        "large_png_12000x12000": _encode(Image.new("1", (LARGE_SIDE, LARGE_SIDE), 1), "PNG"),
        "big_1bit_png_4096": _encode(Image.new("1", (BIG_OK_SIDE, BIG_OK_SIDE), 1), "PNG"),
        "one_pixel_png": _encode(Image.new("RGB", (1, 1), (12, 34, 56)), "PNG"),
        "png_16bit": _encode(Image.fromarray(sixteen), "PNG"),
        "jpeg_cmyk": _encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG", quality=95),
        "png_rgba": _encode(Image.fromarray(rgba, "RGBA"), "PNG"),
        "gif_palette": _encode(palette, "GIF"),
        "gif_animated": _encode(
            frames[0], "GIF", save_all=True, append_images=frames[1:], duration=10, loop=0
        ),
        "jpeg_exif_rotated": _encode(rotated, "JPEG", quality=95, exif=exif),
        "png_grayscale": _encode(Image.fromarray(_noise((3, 4), 5)), "PNG"),
        "jpeg_grayscale": _encode(Image.fromarray(_noise((16, 24), 6)), "JPEG", quality=90),
    }
    if cases.keys() != EXPECT.keys():
        raise RuntimeError("bad_inputs: EXPECT and the built cases disagree")
    return cases


def corpus() -> dict[str, bytes]:
    """Name -> bytes of every case (built once per process, about 0.3 s; a fresh dict)."""
    return dict(_build())
