"""Image folders: off unless the operator names roots; picked from a list; nothing outside the
roots is read, listed or confirmed (issue 16, items 1, 2 and 7)."""

from __future__ import annotations

import importlib
import os

import pytest
from PIL import Image

from app import encoders, folders
from ssl_core.data import DataError

PAGE_URLS = {"embeddings": ("emb", {"emb_n": "50", "emb_enc": "raw", "emb_method": "pca"}),
             "retrieval": ("ret", {"ret_n": "50", "ret_enc": "raw"})}
point_sets = importlib.import_module("app.encoders.points")  # the module, not the function
WHAT = {"embeddings": "Cannot use these images", "retrieval": "Cannot use this gallery"}
HOSTILE = ("/usr/lib", "~", "~nosuchuser", "/", "/proc/self", "x" * 300, "../../etc",
           "photos/../../etc")


@pytest.fixture(autouse=True)
def _no_background_warm_up(monkeypatch):
    monkeypatch.setattr(encoders, "start_umap_warm_up", lambda: None)


def _png(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 10, 10)).save(path)


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A root "photos" with two class folders, a link to .. and a link to a folder outside."""
    outside = tmp_path / "secret_outside"
    _png(outside / "s.png")
    photos = tmp_path / "photos"
    for cls in ("cats", "dogs"):
        for i in range(3):
            _png(photos / cls / f"{i}.png")
    os.symlink("..", photos / "cats" / "up")
    os.symlink(outside, photos / "escape")
    monkeypatch.setenv(folders.FOLDER_ROOTS_ENV, str(photos))
    return photos


def test_roots_come_only_from_the_environment(tmp_path):
    (tmp_path / "a").mkdir()
    env = {folders.FOLDER_ROOTS_ENV: os.pathsep.join([str(tmp_path / "a"), "relative", "~",
                                                      str(tmp_path / "missing"), ""])}
    assert folders.folder_roots(env) == (os.path.realpath(tmp_path / "a"),)
    assert folders.folder_roots({}) == ()


def test_choices_stay_inside_the_root(root, tmp_path):
    choices = folders.folder_choices(folders.folder_roots())
    assert [c.key for c in choices] == ["photos", "photos/cats", "photos/dogs"]
    assert all("secret_outside" not in c.path for c in choices)
    for asked in HOSTILE + (str(tmp_path / "secret_outside"), "photos/escape"):
        assert folders.resolve_choice(asked, choices) is None


def test_a_choice_replaced_by_a_link_out_is_refused(root, tmp_path):
    choices = folders.folder_choices(folders.folder_roots())
    (root / "dogs").rename(tmp_path / "dogs_moved")
    os.symlink(tmp_path / "secret_outside", root / "dogs")
    assert folders.resolve_choice("photos/dogs", choices) is None
    assert folders.resolve_choice("photos/cats", choices) is not None


def test_choice_listing_is_bounded(tmp_path, monkeypatch):
    for i in range(30):
        (tmp_path / f"d{i:02d}" / "e").mkdir(parents=True)
    roots = (os.path.realpath(tmp_path),)
    assert len(folders.folder_choices(roots, max_choices=10)) == 10
    assert len(folders.folder_choices(roots, depth=0)) == 1
    assert len(folders.folder_choices(roots)) == 61


def test_messages_name_the_choice_not_the_server_path(root):
    choice = folders.resolve_choice("photos/cats", folders.folder_choices(folders.folder_roots()))
    message = folders.public_message(f"cannot read {choice.path}/0.png in {choice.root}", choice)
    assert str(root) not in message and "photos/cats/0.png" in message


@pytest.mark.parametrize("asked", HOSTILE)
@pytest.mark.parametrize("roots", [False, True])
def test_hostile_folder_values_are_refused_at_once_without_reading(asked, roots, root,
                                                                   monkeypatch):
    if not roots:
        monkeypatch.delenv(folders.FOLDER_ROOTS_ENV)
    reads = []
    monkeypatch.setattr(point_sets, "load_point_set", lambda *a, **k: reads.append(a))
    with pytest.raises(DataError) as error:
        point_sets.points(point_sets.DatasetSpec("folder", 50, asked))
    # refused before anything is read or listed: that is what keeps the answer instant
    assert not reads, "nothing is read for a folder that is not offered"
    assert str(error.value) == (folders.NOT_OFFERED if roots else folders.OFF_MESSAGE)


@pytest.mark.parametrize("page", sorted(PAGE_URLS))
def test_urls_with_paths_give_a_message_and_reveal_nothing(page, root, tmp_path, tiny_checkpoints,
                                                           open_page, clean, monkeypatch):
    prefix, base = PAGE_URLS[page]
    monkeypatch.delenv(folders.FOLDER_ROOTS_ENV)
    at = open_page(page, {**base, f"{prefix}_data": "folder", f"{prefix}_folder": "/usr/lib"})
    clean(at)
    assert [e.value for e in at.error] == [f"{WHAT[page]}: {folders.OFF_MESSAGE}"]
    monkeypatch.setenv(folders.FOLDER_ROOTS_ENV, str(root))
    outside = str(tmp_path / "secret_outside")
    at = open_page(page, {**base, f"{prefix}_data": "folder", f"{prefix}_folder": outside})
    clean(at)
    shown = " ".join(m.value for m in [*at.error, *at.warning, *at.info, *at.caption,
                                       *at.markdown])
    assert folders.NOT_OFFERED in shown
    assert "secret_outside" not in shown and str(tmp_path) not in shown
    box = at.selectbox(key=f"{prefix}_folder")
    assert box.options == ["photos", "photos/cats", "photos/dogs"]
    assert box.value == "photos" and not at.error  # the root's classes: cats, dogs
