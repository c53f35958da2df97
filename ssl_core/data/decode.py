"""Safe decoding of untrusted image bytes (uploads, files of unknown origin) to uint8 arrays.

:func:`decode_image` checks the header's pixel count before any pixel is decoded (decompression
bombs), applies EXIF orientation, takes an animation's first frame, converts every mode Pillow
reads to gray ``(H, W)`` or RGB ``(H, W, 3)`` uint8 (alpha composited on white, 16-bit scaled to
8), and turns every failure into a :class:`DataError` that says what was wrong.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ssl_core.images import as_rgb

__all__ = ["IMAGE_EXTENSIONS", "DataError", "decode_image", "load_image"]

# torchvision.datasets.folder.IMG_EXTENSIONS (so folders behave like ImageFolder) plus .gif:
# Pillow decodes it (an animated GIF gives its first frame), and phones share GIFs.
IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif",
)


class DataError(ValueError):
    """Data is missing, malformed or unsafe; the message names the path and the expected layout."""


def _composite_on_white(image: Image.Image, mode: str) -> np.ndarray:
    """Alpha-composite an ``LA`` / ``RGBA`` image on white -> (H, W) or (H, W, 3) uint8."""
    pixels = np.asarray(image.convert(mode), dtype=np.float32)  # (H, W, 2 or 4)
    colour, alpha = pixels[..., :-1], pixels[..., -1:] / 255.0
    blended = colour * alpha + 255.0 * (1.0 - alpha)
    out = np.rint(blended).astype(np.uint8)
    return out[..., 0] if mode == "LA" else out


def _to_uint8_array(image: Image.Image) -> np.ndarray:
    """A decoded PIL image in any mode -> (H, W) uint8 (grayscale) or (H, W, 3) uint8."""
    mode = image.mode
    if mode in ("1", "L"):
        return np.asarray(image.convert("L"))
    if mode.startswith("I;16"):
        values = np.asarray(image).astype(np.uint32)
        return ((values * 255 + 32767) // 65535).astype(np.uint8)  # 65535 -> 255, rounded
    if mode in ("I", "F"):
        # 32-bit int / float: assume 8-bit range if it fits, else 16-bit range.
        values = np.clip(np.asarray(image, dtype=np.float64), 0, 65535)
        scale = 255.0 / 65535.0 if values.max() > 255 else 1.0
        return np.rint(values * scale).astype(np.uint8)
    if mode in ("LA", "La"):
        return _composite_on_white(image, "LA")
    if mode == "P":
        mode = "RGBA" if "transparency" in image.info else "RGB"
        image = image.convert(mode)
    if mode in ("RGBA", "RGBa", "PA"):
        return _composite_on_white(image, "RGBA")
    return np.asarray(image.convert("RGB"))  # RGB, CMYK, YCbCr, LAB, HSV, RGBX, ...


# Modes shrunk by Pillow itself (after a lossless change to one of them where needed).
_SHRINK_AS = {"1": "L", "L": "L", "LA": "LA", "La": "LA", "RGB": "RGB", "RGBA": "RGBA",
              "RGBa": "RGBA", "PA": "RGBA", "CMYK": "RGB", "YCbCr": "RGB", "RGBX": "RGB"}


_STRIP_BLOCKS = 64  # rows of output per strip when reducing an image with alpha


def _reduce(image: Image.Image, factor: int) -> Image.Image:
    """``image.reduce(factor)``; with alpha, strip by strip: Pillow premultiplies an LA / RGBA
    image into a full-size copy before reducing it (159 MB for 6300 x 6300), a strip at a
    time that copy is a strip's."""
    if image.mode not in ("LA", "RGBA"):
        return image.reduce(factor)
    width, height = image.size
    out = Image.new(image.mode, (-(-width // factor), -(-height // factor)))
    rows = factor * _STRIP_BLOCKS
    for top in range(0, height, rows):
        strip = image.crop((0, top, width, min(height, top + rows)))
        out.paste(strip.reduce(factor), (0, top // factor))
    return out


def _shrink(image: Image.Image, max_side: int) -> Image.Image:
    """``image`` with its longer side brought to at most ``max_side``, in Pillow, before any
    array is made. JPEG is already decoded at a reduced scale (``draft``); then a whole-factor
    box reduction (``reduce``, to at most twice ``max_side``: a small copy, where resampling
    RGBA directly makes a full-size premultiplied one first) and a Lanczos resampling
    (``thumbnail``). Modes Pillow cannot resample (16-bit, float) keep the box reduction only.
    """
    if max(image.size) <= max_side:
        return image
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    factor = max(image.size) // (2 * max_side)
    if factor >= 2:
        try:
            image = _reduce(image, factor)
        except (ValueError, NotImplementedError):  # a mode Pillow cannot reduce
            pass
    target = _SHRINK_AS.get(image.mode)
    if target is None:  # I, I;16, F, ...: the box reduction only
        return image
    if image.mode != target:
        image = image.convert(target)
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def decode_image(
    data: bytes, *, max_pixels: int = 40_000_000, mode: str | None = None,
    max_side: int | None = None,
) -> np.ndarray:
    """Decode untrusted image bytes (an upload) -> uint8 ``(H, W, 3)`` colour or ``(H, W)`` gray.

    The header is checked against ``max_pixels`` before any pixel is decoded (decompression
    bombs); EXIF orientation is applied; an animated image gives its first frame; CMYK, palette
    and the like become RGB; alpha is composited on white; 16-bit images are scaled to 8 bits.
    ``mode="RGB"`` or ``"L"`` forces 3 channels or 1. Pillow's own global pixel limit
    (``Image.MAX_IMAGE_PIXELS``) still applies on top of ``max_pixels``.

    ``max_side`` shrinks the image while it is decoded (JPEG's reduced-scale decoding, then
    Pillow's whole-factor reduction and Lanczos resampling) so that its longer side is at most
    ``max_side``, before any array is made: a 6300 x 6300 RGBA PNG then costs its 8-bit pixels
    once, not a float copy of them. None keeps the full size.

    Raises:
        DataError: empty, truncated, corrupt, not an image, or larger than ``max_pixels``.
    """
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be >= 1; got {max_pixels}")
    if mode not in (None, "RGB", "L"):
        raise ValueError(f"mode must be None, 'RGB' or 'L'; got {mode!r}")
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be >= 1 or None; got {max_side}")
    data = bytes(data)
    if not data:
        raise DataError("cannot decode image: the data is empty (0 bytes)")

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                width, height = opened.size  # from the header; nothing decoded yet
                if width * height > max_pixels:
                    raise DataError(
                        f"image is {width}x{height} = {width * height:,} pixels, more than "
                        f"max_pixels={max_pixels:,}: refusing to decode (possible "
                        "decompression bomb); downscale it or raise max_pixels"
                    )
                opened.seek(0)  # first frame of an animation
                if max_side is not None:  # JPEG: decode at 1/2, 1/4 or 1/8 scale
                    opened.draft(opened.mode, (max_side, max_side))
                opened.load()
                image = opened if max_side is None else _shrink(opened, max_side)
                image = ImageOps.exif_transpose(image)
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise DataError(f"refusing to decode a possible decompression bomb: {error}") from error
    except UnidentifiedImageError as error:
        raise DataError(
            f"not a recognised image format ({len(data)} bytes starting {data[:8]!r}); "
            "expected PNG, JPEG, GIF, WebP, BMP, TIFF or another format Pillow reads"
        ) from error
    except ImportError:
        raise
    except Exception as error:  # untrusted input: any failure inside the decoder is bad data
        raise DataError(
            f"corrupt or truncated image data ({len(data)} bytes): "
            f"{type(error).__name__}: {error}"
        ) from error

    array = _to_uint8_array(image)
    if mode == "RGB" and array.ndim == 2:
        array = as_rgb(array)  # (H, W, 3)
    elif mode == "L" and array.ndim == 3:
        array = np.asarray(Image.fromarray(array, "RGB").convert("L"))  # (H, W)
    return np.ascontiguousarray(array)


def load_image(
    path: str | Path, *, max_pixels: int = 40_000_000, mode: str | None = None,
    max_side: int | None = None,
) -> np.ndarray:
    """Decode an image file with :func:`decode_image`; errors name the path."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(f"cannot read image file {path}: {error.strerror or error}") from error
    try:
        return decode_image(data, max_pixels=max_pixels, mode=mode, max_side=max_side)
    except DataError as error:
        raise DataError(f"{path}: {error}") from error


