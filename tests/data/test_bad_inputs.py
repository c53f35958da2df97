"""decode_image / load_image against the shared corpus of bad and awkward uploads.

The contract: every case either decodes to a uint8 array, ``(H, W)`` gray or ``(H, W, 3)`` colour,
or raises ``DataError`` with a message that says what is wrong (and, from ``load_image``, names
the file). Never another exception type, and never a hang. Per-format pixel values (alpha on
white, 16-bit scaling, EXIF rotation, ...) are checked in ``tests/data/test_data.py``; this file
checks the contract over the corpus in ``tests/bad_inputs.py`` and over random corruptions of it.
"""

from __future__ import annotations

import importlib.util
import io
import re
import struct
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ssl_core.data import DataError, decode_image, load_image

pytestmark = pytest.mark.timeout(60)


def _load_corpus_module() -> ModuleType:
    """tests/bad_inputs.py by path (pytest's importlib mode puts no test folder on sys.path)."""
    path = Path(__file__).resolve().parents[1] / "bad_inputs.py"
    spec = importlib.util.spec_from_file_location("bad_inputs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bad_inputs = _load_corpus_module()
OK = sorted(name for name, verdict in bad_inputs.EXPECT.items() if verdict == "ok")
ERRORS = sorted(name for name, verdict in bad_inputs.EXPECT.items() if verdict == "error")


@pytest.fixture(scope="module")
def corpus() -> dict[str, bytes]:
    return bad_inputs.corpus()


def _assert_valid_array(array: object) -> None:
    assert isinstance(array, np.ndarray) and array.dtype == np.uint8
    assert array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3), array.shape
    assert array.size > 0 and array.flags.c_contiguous


# ----------------------------------------------------------------------------------------------
# the corpus itself
# ----------------------------------------------------------------------------------------------


def test_corpus_tables_agree(corpus):
    assert set(corpus) == set(bad_inputs.EXPECT)
    assert set(bad_inputs.EXPECT.values()) == {"ok", "error"}
    assert set(bad_inputs.SHAPE) == set(OK)
    assert set(bad_inputs.ERROR_MATCH) == set(ERRORS)
    assert set(bad_inputs.SUFFIX) == set(corpus)
    assert all(isinstance(data, bytes) for data in corpus.values())
    # Small enough for the app's upload tests to push every case through a page.
    assert max(len(data) for data in corpus.values()) < 100_000
    corpus_copy = bad_inputs.corpus()
    corpus_copy.clear()
    assert bad_inputs.corpus().keys() == corpus.keys(), "corpus() must return a fresh dict"


def test_corpus_cases_are_what_they_claim(corpus):
    bomb = corpus["bomb_png_50000x50000"]
    assert bomb[:8] == b"\x89PNG\r\n\x1a\n" and bomb[12:16] == b"IHDR"
    assert struct.unpack(">II", bomb[16:24]) == (50_000, 50_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        large = Image.open(io.BytesIO(corpus["large_png_12000x12000"]))
        assert large.size == (12_000, 12_000) and large.format == "PNG"
    assert corpus["pdf_header"].startswith(b"%PDF-")
    assert corpus["jpeg_truncated"].startswith(b"\xff\xd8")
    assert not corpus["jpeg_truncated"].endswith(b"\xff\xd9")


def test_patch_png_size_rejects_non_png():
    with pytest.raises(ValueError, match="not a PNG"):
        bad_inputs.patch_png_size(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x00IEND\xaeB`\x82", 2, 2)


# ----------------------------------------------------------------------------------------------
# decode_image and load_image over the corpus
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", OK)
def test_good_cases_decode_to_the_documented_shape(corpus, name):
    array = decode_image(corpus[name])
    _assert_valid_array(array)
    assert array.shape == bad_inputs.SHAPE[name]
    height, width = array.shape[:2]
    assert decode_image(corpus[name], mode="RGB").shape == (height, width, 3)
    assert decode_image(corpus[name], mode="L").shape == (height, width)


@pytest.mark.parametrize("name", ERRORS)
def test_bad_cases_raise_a_data_error_that_says_what_is_wrong(corpus, name):
    with pytest.raises(DataError, match=bad_inputs.ERROR_MATCH[name]):
        decode_image(corpus[name])


@pytest.mark.parametrize("name", sorted(bad_inputs.EXPECT))
def test_load_image_follows_the_same_contract_and_names_the_file(corpus, name, tmp_path):
    path = tmp_path / f"{name}{bad_inputs.SUFFIX[name]}"
    path.write_bytes(corpus[name])
    if bad_inputs.EXPECT[name] == "ok":
        np.testing.assert_array_equal(load_image(path), decode_image(corpus[name]))
    else:
        pattern = re.escape(str(path)) + ".*(" + bad_inputs.ERROR_MATCH[name] + ")"
        with pytest.raises(DataError, match=pattern):
            load_image(path)


def test_large_image_is_refused_even_when_max_pixels_allows_it(corpus):
    # 1.44e8 pixels is over Pillow's own limit, which decode_image keeps on top of max_pixels.
    with pytest.raises(DataError, match="decompression bomb"):
        decode_image(corpus["large_png_12000x12000"], max_pixels=10**9)
    with pytest.raises(DataError, match="decompression bomb"):
        decode_image(corpus["bomb_png_50000x50000"], max_pixels=10**12)


def test_real_image_over_a_small_max_pixels_is_refused_before_decoding(corpus):
    side = 4_096
    with pytest.raises(DataError, match=rf"{side}x{side} = 16,777,216 pixels.*max_pixels=1,000"):
        decode_image(corpus["big_1bit_png_4096"], max_pixels=1_000)


# ----------------------------------------------------------------------------------------------
# random corruptions: a valid array or a DataError, nothing else
# ----------------------------------------------------------------------------------------------


@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    name=st.sampled_from(sorted(set(OK) - {"big_1bit_png_4096"})),
    flips=st.lists(
        st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(1, 255)), max_size=4
    ),
    keep=st.floats(0.0, 1.0),
)
def test_corrupted_bytes_give_an_array_or_a_data_error(corpus, name, flips, keep):
    data = bytearray(corpus[name])
    for where, xor in flips:
        data[int(where * len(data))] ^= xor
    data = bytes(data[: max(0, round(keep * len(data)))] if keep < 1.0 else data)
    try:
        array = decode_image(data, max_pixels=1_000_000)
    except DataError as error:
        assert str(error), "a DataError must say what is wrong"
    else:
        _assert_valid_array(array)
