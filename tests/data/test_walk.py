"""The bounded, link-safe folder walk behind load_image_folder."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from ssl_core.data import (
    DataError,
    WalkLimitError,
    WalkLimits,
    is_within,
    load_image_folder,
    scan_image_folder,
    walk_images,
)


def _png(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (10, 20, 30)).save(path)


def test_links_to_parent_and_outside_are_never_followed(tmp_path):
    outside = tmp_path / "outside"
    _png(outside / "secret.png")
    root = tmp_path / "root"
    _png(root / "a" / "1.png")
    os.symlink("..", root / "a" / "up")  # a loop, as in Debian's llvm package
    os.symlink(outside, root / "a" / "out")  # a folder outside the root
    os.symlink(outside / "secret.png", root / "a" / "secret.png")  # a file outside the root
    os.symlink(root / "a" / "1.png", root / "a" / "2.png")  # a link that stays inside
    found = walk_images(root)
    assert [p.name for p in found] == ["1.png", "2.png"]
    assert all("outside" not in os.path.realpath(p) for p in found)


def test_a_walk_stops_at_its_limits(tmp_path):
    for i in range(5):
        _png(tmp_path / "c" / f"{i}.png")
    _png(tmp_path / "d" / "e" / "f" / "deep.png")
    with pytest.raises(WalkLimitError, match="more than 3 image files"):
        walk_images(tmp_path, limits=WalkLimits(max_files=3))
    with pytest.raises(WalkLimitError, match="deeper than 1"):
        walk_images(tmp_path, limits=WalkLimits(max_depth=1))
    assert len(walk_images(tmp_path, limits=WalkLimits(max_depth=3))) == 6
    with pytest.raises(WalkLimitError, match="after"):
        walk_images(tmp_path, limits=WalkLimits(max_seconds=1e-9))
    with pytest.raises(WalkLimitError, match="cancelled"):
        walk_images(tmp_path, limits=WalkLimits(cancelled=lambda: True))
    with pytest.raises(DataError, match="more than 3"):
        load_image_folder(tmp_path, limits=WalkLimits(max_files=3))


def test_folder_layout_keeps_class_order_and_skips_hidden(tmp_path):
    _png(tmp_path / "b" / "x.png")
    _png(tmp_path / "a" / "sub" / "y.png")
    _png(tmp_path / ".hidden" / "z.png")
    top, scanned = scan_image_folder(tmp_path)
    assert top == [] and [(d.name, [f.name for f in fs]) for d, fs in scanned] == [
        ("a", ["y.png"]), ("b", ["x.png"])]
    assert load_image_folder(tmp_path).classes == ("a", "b")


def test_a_class_link_out_of_the_root_is_not_a_class(tmp_path):
    _png(tmp_path / "elsewhere" / "cls" / "1.png")
    root = tmp_path / "root"
    _png(root / "real" / "1.png")
    os.symlink(tmp_path / "elsewhere" / "cls", root / "linked")
    assert load_image_folder(root).classes == ("real",)


def test_is_within():
    assert is_within("/a/b", "/a") and is_within("/a", "/a")
    assert not is_within("/ab", "/a") and not is_within("/", "/a")
