"""Missing, broken and hostile files offered to every loader in ssl_core: a clear error, fast.

- A malicious pickle, whose ``__reduce__`` would create a marker file when unpickled, is offered
  to every loader that reads a file (checkpoints, optimizer state, transformers models, images,
  image folders, the bundled Fashion-MNIST arrays, CIFAR-10, results, the probe CLI); each refuses
  it with its own error type and a message, and the marker never appears.
- A truncated checkpoint gives a ``CheckpointError`` from the loaders the app calls.
- DINOv2 absent from the local Hugging Face cache: ``ModelNotAvailableError`` saying where it
  looked and how to get it, in well under 2 s (nothing waits on the network).

The app's side (a page shows these messages and keeps working) is tests/app/test_missing_pieces.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ssl_core.checkpoints import (
    CONFIG_FILE,
    TRAIN_STATE_FILE,
    TRAIN_STATE_JSON,
    WEIGHTS_FILE,
    CheckpointError,
    load_checkpoint,
    load_encoder,
    load_method,
    load_tensors,
    load_train_state,
    save_checkpoint,
)
from ssl_core.data import (
    IMAGE_EXTENSIONS,
    DataError,
    decode_image,
    load_image,
    load_image_folder,
)
from ssl_core.methods import build_method, method_spec
from ssl_core.models.hf import ModelNotAvailableError, list_local_models, load_hf_encoder

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("one_torch_thread")]


def _tiny_mae(directory: Path) -> Path:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        method = build_method("mae", backbone="vit_tiny_p4_28", backbone_kwargs={"depth": 1},
                              config={"decoder_depth": 1, "decoder_dim": 32})
    return save_checkpoint(directory, state_dict=method.state_dict(), config=method_spec(method))


def _checkpoint_dir_holding(path: Path, weights: bytes, config: dict | None = None) -> Path:
    path.mkdir(parents=True)
    (path / WEIGHTS_FILE).write_bytes(weights)
    (path / CONFIG_FILE).write_text(json.dumps(config or {"method": "mae",
                                                           "backbone": "vit_tiny_p4_28"}))
    return path


# ----------------------------------------------------------------------------------------------
# a malicious pickle offered to every loader
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".pkl", ".ckpt", ".bin"])
@pytest.mark.parametrize("loader", [load_checkpoint, load_tensors, load_method, load_encoder])
def test_checkpoint_loaders_refuse_pickle_files_by_name(tmp_path, evil, loader, suffix):
    path = tmp_path / f"model{suffix}"
    path.write_bytes(evil)
    with pytest.raises(CheckpointError, match=r"refusing to load .*pickles.*run any code"):
        loader(path)


@pytest.mark.parametrize("loader", [load_checkpoint, load_method, load_encoder])
def test_checkpoint_loaders_refuse_a_pickle_named_model_safetensors(tmp_path, evil, loader):
    directory = _checkpoint_dir_holding(tmp_path / "ck", evil)
    with pytest.raises(CheckpointError, match=r"not a safetensors file.*pickles can run code"):
        loader(directory)


def test_train_state_loader_refuses_a_pickle(tmp_path, evil):
    (tmp_path / TRAIN_STATE_FILE).write_bytes(evil)
    (tmp_path / TRAIN_STATE_JSON).write_text(json.dumps({"param_groups": [], "scalars": {},
                                                         "extra": {}}))
    with pytest.raises(CheckpointError, match=r"not a safetensors file"):
        load_train_state(tmp_path)


def _dinov2_config() -> dict:
    from transformers import Dinov2Config

    config = Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                          mlp_ratio=2, image_size=28, patch_size=7).to_dict()
    config["architectures"] = ["Dinov2Model"]
    return config


def test_transformers_loader_refuses_pytorch_model_bin(tmp_path, evil):
    folder = tmp_path / "dinov2"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(_dinov2_config()))
    (folder / "pytorch_model.bin").write_bytes(evil)
    with pytest.raises(ModelNotAvailableError, match=r"only pickled weights.*safetensors only"):
        load_hf_encoder(folder)


def test_transformers_loader_refuses_a_pickle_named_model_safetensors(tmp_path, evil):
    folder = tmp_path / "dinov2"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(_dinov2_config()))
    (folder / "model.safetensors").write_bytes(evil)
    # safetensors' own SafetensorError (not wrapped in ModelNotAvailableError): the header is
    # refused before anything is deserialised
    with pytest.raises(Exception, match=r"deserializing header"):
        load_hf_encoder(folder)


def test_image_loaders_refuse_a_pickle(tmp_path, evil):
    with pytest.raises(DataError, match=r"not a recognised image format"):
        decode_image(evil)
    fake = tmp_path / "photo.png"
    fake.write_bytes(evil)
    with pytest.raises(DataError, match=r"photo\.png.*not a recognised image format"):
        load_image(fake)
    folder = tmp_path / "folder" / "cats"
    folder.mkdir(parents=True)
    (folder / "cat.jpg").write_bytes(evil)
    dataset = load_image_folder(tmp_path / "folder")
    with pytest.raises(DataError, match=r"cat\.jpg.*not a recognised image format"):
        dataset[0]


def test_bundled_arrays_loader_refuses_pickled_objects(tmp_path, payload, monkeypatch):
    from ssl_core import paths
    from ssl_core.data import load_fashion_mnist

    path = tmp_path / "fashion.npz"
    objects = np.empty(1, dtype=object)
    objects[0] = payload
    np.savez(path, train_images=objects, train_labels=np.zeros(1, np.uint8),
             test_images=objects, test_labels=np.zeros(1, np.uint8))
    monkeypatch.setattr(paths, "fashion_mnist_file", lambda: path)
    with pytest.raises(DataError, match=r"cannot read .*fashion\.npz.*allow_pickle"):
        load_fashion_mnist("train", source="bundled")


def test_cifar10_loader_never_unpickles_a_file_that_fails_its_checksum(tmp_path, evil):
    from torchvision.datasets import CIFAR10

    from ssl_core.data import load_cifar10

    folder = tmp_path / CIFAR10.base_folder
    folder.mkdir()
    for name, _ in CIFAR10.train_list + CIFAR10.test_list:
        (folder / name).write_bytes(evil)
    (folder / CIFAR10.meta["filename"]).write_bytes(evil)
    with pytest.raises(DataError, match=r"CIFAR-10 in .* is unreadable"):
        load_cifar10(tmp_path)


def test_results_loader_refuses_a_pickle(tmp_path, evil):
    from lesson.results import load_result

    (tmp_path / "probe_table.json").write_bytes(evil)
    with pytest.raises(ValueError):  # JSON only: the bytes are never unpickled
        load_result("probe_table", directory=tmp_path)


def test_results_loader_names_the_file_it_cannot_decode(tmp_path, evil):
    from lesson.results import load_result

    (tmp_path / "probe_table.json").write_bytes(evil)
    with pytest.raises(ValueError, match=r"probe_table\.json"):
        load_result("probe_table", directory=tmp_path)


def test_probe_cli_refuses_a_pickle_checkpoint(tmp_path, evil, capsys):
    from ssl_core.probe import main

    directory = _checkpoint_dir_holding(tmp_path / "ck", evil)
    code = main(["--checkpoint", str(directory), "--out", str(tmp_path / "out"),
                 "--limit-train", "50", "--limit-test", "50"])
    assert code != 0
    assert "is not a safetensors file" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# truncated checkpoints
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [0.0, 0.01, 0.5, 0.99])
@pytest.mark.parametrize("loader", [load_method, load_encoder])
def test_truncated_checkpoint_gives_a_clear_error(tmp_path, loader, keep):
    directory = _tiny_mae(tmp_path / "mae")
    weights = directory / WEIGHTS_FILE
    data = weights.read_bytes()
    weights.write_bytes(data[: int(keep * len(data))])
    with pytest.raises(CheckpointError, match=r"truncated|not a safetensors file"):
        loader(directory)


def test_intact_checkpoint_loads_so_the_truncation_test_means_something(tmp_path):
    directory = _tiny_mae(tmp_path / "mae")
    encoder = load_encoder(directory)
    assert encoder.forward_features(torch.rand(2, 1, 28, 28)).shape[0] == 2


def test_checkpoint_without_weights_or_config_says_what_is_missing(tmp_path):
    directory = _tiny_mae(tmp_path / "mae")
    (directory / CONFIG_FILE).unlink()
    with pytest.raises(CheckpointError, match=r"missing config\.json"):
        load_method(directory)
    (directory / WEIGHTS_FILE).unlink()
    (directory / CONFIG_FILE).write_text("{}")
    with pytest.raises(CheckpointError, match=r"no weights file"):
        load_method(directory)


# ----------------------------------------------------------------------------------------------
# DINOv2 not in the local cache
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["facebook/dinov2-small", "facebook/vit-mae-base"])
def test_model_absent_from_the_cache_fails_fast_with_a_way_to_get_it(tmp_path, monkeypatch,
                                                                     model, no_network):
    empty = tmp_path / "hub"
    empty.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(empty))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailableError,
                       match=rf"{model}.*nor in the Hugging Face cache.*no download.*hf download"):
        load_hf_encoder(model)
    assert list_local_models() == []


def test_model_in_a_cache_folder_that_does_not_exist(tmp_path, no_network):
    with pytest.raises(ModelNotAvailableError, match=r"dinov2-small"):
        load_hf_encoder("facebook/dinov2-small", cache_dir=tmp_path / "nowhere")
    assert list_local_models(tmp_path / "nowhere") == []


# ----------------------------------------------------------------------------------------------
# the bad-input corpus through an image folder (tests/bad_inputs.py; decode_image and load_image
# are covered in tests/data/test_bad_inputs.py, the app's upload path in tests/app/)
# ----------------------------------------------------------------------------------------------


def _bad_inputs():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bad_inputs",
                                                  Path(__file__).with_name("bad_inputs.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_image_folder_items_decode_or_name_the_bad_file(tmp_path):
    bad_inputs = _bad_inputs()
    corpus = bad_inputs.corpus()
    for name, data in corpus.items():
        (tmp_path / f"{name}{bad_inputs.SUFFIX[name]}").write_bytes(data)
    dataset = load_image_folder(tmp_path, mode="RGB")
    seen = set()
    for index in range(len(dataset)):
        try:
            image, label = dataset[index]
        except DataError as error:
            bad = [n for n in corpus if f"{n}{bad_inputs.SUFFIX[n]}" in str(error)]
            assert len(bad) == 1 and bad_inputs.EXPECT[bad[0]] == "error", str(error)
            seen.add(bad[0])
        else:
            assert image.dtype == torch.uint8 and image.ndim == 3 and image.shape[0] == 3
            assert label == -1
            seen.add(dataset.files[index].stem)
    # only IMAGE_EXTENSIONS are listed (.txt, .pdf and .gif are skipped)
    listed = {n for n in corpus if bad_inputs.SUFFIX[n] in IMAGE_EXTENSIONS}
    assert len(dataset) == len(listed)
    assert seen == listed
