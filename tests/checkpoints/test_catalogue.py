"""The catalogue of checkpoint directories: listing, what each says about itself, stamps."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from ssl_core import paths
from ssl_core.checkpoints import (
    checkpoint_info,
    checkpoint_names,
    checkpoint_stamp,
    find_checkpoint,
    list_checkpoints,
    random_init_encoder,
)
from ssl_core.methods import method_from_spec
from ssl_core.train import TrainConfig, Trainer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with one tiny Fashion-MNIST SimCLR checkpoint and one RGB 'checkpoint'."""
    root = tmp_path_factory.mktemp("ckpts")
    cfg = TrainConfig(method="simclr", steps=2, batch_size=8, limit_images=32,
                      backbone_kwargs={"depth": 1, "embed_dim": 16, "num_heads": 2},
                      method_config={"proj_hidden_dim": 16, "proj_out_dim": 8},
                      out_dir=str(root / "tiny"))
    Trainer(cfg).run()
    rgb = root / "rgb"  # same files, but config.json says 3 x 64 x 64
    shutil.copytree(root / "tiny", rgb)
    config = json.loads((rgb / "config.json").read_text())
    config["backbone_kwargs"] |= {"in_chans": 3, "img_size": [64, 64]}
    (rgb / "config.json").write_text(json.dumps(config))
    (root / "notes").mkdir()  # not a checkpoint: ignored
    return root


def test_listing_and_geometry(checkpoints: Path) -> None:
    assert checkpoint_names(checkpoints) == ["rgb", "tiny"]
    infos = {info.name: info for info in list_checkpoints(checkpoints)}
    assert infos["tiny"].is_fashion and not infos["rgb"].is_fashion
    assert (infos["tiny"].in_chans, infos["tiny"].img_size) == (1, (28, 28))
    assert (infos["rgb"].in_chans, infos["rgb"].img_size) == (3, (64, 64))
    assert find_checkpoint("tiny", checkpoints) == checkpoints / "tiny"
    assert find_checkpoint("notes", checkpoints) is None
    assert checkpoint_names(checkpoints / "absent") == []


def test_checkpoint_info_reads_provenance(checkpoints: Path) -> None:
    info = checkpoint_info(checkpoints / "tiny")
    last = json.loads((checkpoints / "tiny" / "metrics.jsonl").read_text().splitlines()[-1])
    assert info.wall_time_s == pytest.approx(last["elapsed_s"])
    assert info.step == 2 and info.batch_size == 8 and info.method == "simclr"
    assert info.size_bytes == (checkpoints / "tiny" / "model.safetensors").stat().st_size
    assert len(info.sha256) == 64 and info.command is None
    (checkpoints / "PROVENANCE.md").write_text(
        "# x\n\n## `tiny`\n\nwhat\n\n```\npython3 -m ssl_core.pretrain --steps 2\n```\n")
    try:
        assert checkpoint_info(checkpoints / "tiny").command == \
            "python3 -m ssl_core.pretrain --steps 2"
    finally:
        (checkpoints / "PROVENANCE.md").unlink()
    with pytest.raises(ValueError, match="needs config.json and model.safetensors"):
        checkpoint_info(checkpoints / "notes")


def test_median_time_leaves_out_the_stretches_slowed_by_other_jobs(
        tmp_path: Path, checkpoints: Path) -> None:
    # a run paced at 0.7 s/step, with a stretch slowed 3x by another job on the shared CPU
    rows = [{"step": i, "step_time_s": 0.7, "elapsed_s": 0.7 * i} for i in range(1, 8)]
    rows += [{"step": 8 + i, "step_time_s": 2.1, "elapsed_s": 4.9 + 2.1 * (i + 1)}
             for i in range(3)]
    rows.append({"step": 10, "loss": 0.1})  # a row without a step time is skipped
    folder = tmp_path / "tiny"
    shutil.copytree(checkpoints / "tiny", folder)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    info = checkpoint_info(folder)
    assert info.median_step_time_s == pytest.approx(0.7)
    assert info.median_time_s == pytest.approx(0.7 * info.step)
    assert info.wall_time_s == pytest.approx(11.2)  # the elapsed time counts the slow steps
    (folder / "metrics.jsonl").write_text(json.dumps({"step": 1, "loss": 1.0}) + "\n")
    assert checkpoint_info(folder).median_time_s is None


def test_data_hashes_of_bundled_and_other_data(tmp_path: Path, checkpoints: Path) -> None:
    info = checkpoint_info(checkpoints / "tiny")  # the bundled subset: its file's sha256
    assert list(info.data_sha256) == ["fashion_mnist.npz"]
    full = tmp_path / "full"  # the full train split: the digest of its decoded arrays
    shutil.copytree(checkpoints / "tiny", full)
    config = json.loads((full / "config.json").read_text())
    config["data"] = {"spec": "fashion-mnist-full", "n_images": 60000, "root": None,
                      "arrays_sha256": "ab" * 32}
    (full / "config.json").write_text(json.dumps(config))
    assert checkpoint_info(full).data_sha256 == {"arrays_sha256": "ab" * 32}


def test_stamp_and_sha256_follow_replaced_weights(tmp_path: Path, checkpoints: Path) -> None:
    copy = tmp_path / "tiny"
    shutil.copytree(checkpoints / "tiny", copy)
    before = checkpoint_info(copy)
    sha_before = before.sha256
    weights = copy / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))  # other weights, same size
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    after = checkpoint_info(copy)
    assert after.stamp == checkpoint_stamp(copy) != before.stamp
    assert after.sha256 != sha_before


def test_the_bundled_catalogue_is_the_default(monkeypatch, checkpoints: Path) -> None:
    monkeypatch.setattr(paths, "checkpoints_dir", lambda: checkpoints)
    assert [info.name for info in list_checkpoints()] == ["rgb", "tiny"]


def test_random_init_twin_is_the_methods_encoder_at_the_same_seed(checkpoints: Path) -> None:
    config = checkpoint_info(checkpoints / "tiny").config
    twin = random_init_encoder(config, seed=3)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        method = method_from_spec({k: config[k] for k in
                                   ("method", "method_config", "backbone", "backbone_kwargs")})
    expected = method.encoder.state_dict()
    assert all(torch.equal(value, expected[name]) for name, value in twin.state_dict().items())
    assert not twin.training and not any(p.requires_grad for p in twin.parameters())
