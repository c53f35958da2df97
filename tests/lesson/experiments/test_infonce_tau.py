from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from lesson.experiments import infonce_tau
from lesson.results import load_result
from ssl_core.checkpoints import save_checkpoint
from ssl_core.methods import build_method, method_spec

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TAUS = (0.05, 0.1, 0.2, 0.5)


def tiny_simclr() -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        method = build_method("simclr", backbone="cnn_small_28",
                              backbone_kwargs={"widths": [4, 8, 8, 8]},
                              config={"proj_hidden_dim": 16, "proj_out_dim": 8})
    return method.eval()


def test_synthetic_block_shows_the_lesson_shape():
    result = infonce_tau.run(synthetic_seeds=30, large=None)
    assert result["taus"] == list(TAUS) and set(result) == {"taus", "synthetic"}
    block = result["synthetic"]
    assert (block["n"], block["d"], block["seeds"]) == (16, 32, 30)
    assert block["reference_loss"] == pytest.approx(math.log(31))
    aligned, random = block["aligned"], block["random"]
    assert aligned == sorted(aligned)  # aligned views: a colder tau lowers the loss
    assert random == sorted(random, reverse=True)  # random views: a colder tau raises it
    assert all(r > math.log(31) for r in random)  # never below a uniform softmax on average
    assert aligned[0] < 0.5 < 3 < random[-1]


def test_real_block_from_a_tiny_model():
    data = np.random.default_rng(0).integers(0, 256, size=(30, 28, 28), dtype=np.uint8)
    result = infonce_tau.run(synthetic_seeds=2, large=(8, 4), large_seeds=2,
                             method=tiny_simclr(), images=data, held_out=data[:12],
                             n_pairs=10, real_seeds=(0, 1))
    real, held_out = result["real"], result["real_held_out"]
    assert (real["encoder"], real["split"], held_out["split"]) == ("simclr", "train", "test")
    assert real["n_pairs"] == 10 and real["seeds"] == [0, 1]
    assert real["reference_loss"] == pytest.approx(math.log(19))
    for key in ("loss", "loss_sem", "backbone_loss", "backbone_loss_sem"):
        assert len(real[key]) == 4 and all(math.isfinite(v) and v >= 0 for v in real[key])
    assert -1 <= real["positive_cosine"] <= 1
    assert result["synthetic_large"]["n"] == 8
    json.dumps(result, allow_nan=False)  # the result file must be plain JSON
    with pytest.raises(ValueError, match="pass images"):
        infonce_tau.run(synthetic_seeds=1, large=None, method=tiny_simclr())


def test_real_losses_match_a_direct_computation():
    from lesson.figures.pairs import real_pairs, simclr_view_config
    from ssl_core.losses.infonce import info_nce

    method = tiny_simclr()
    data = np.random.default_rng(1).integers(0, 256, size=(20, 28, 28), dtype=np.uint8)
    measured = infonce_tau.real_losses(method, data, taus=TAUS, n_pairs=6, seeds=(3,))
    pairs = real_pairs(method, data, n=6, seed=3, config=simclr_view_config(28))
    assert measured["loss"] == pytest.approx([info_nce(pairs.z1, pairs.z2, t).item()
                                              for t in TAUS])
    assert measured["loss_sem"] == [0.0] * 4
    with pytest.raises(ValueError, match="seeds must list at least one seed"):
        infonce_tau.real_losses(method, data, taus=TAUS, n_pairs=6, seeds=())


@pytest.mark.slow
def test_main_writes_the_result_with_provenance(tmp_path, capsys):
    checkpoint = tmp_path / "simclr"
    method = tiny_simclr()
    save_checkpoint(checkpoint, state_dict=method.state_dict(), config=method_spec(method))
    result = infonce_tau.main(["--checkpoint", str(checkpoint), "--n-pairs", "8", "--seeds", "2",
                               "--out-dir", str(tmp_path / "results")])
    saved = load_result("infonce_tau", directory=tmp_path / "results")
    assert saved["real"]["loss"] == result["real"]["loss"]
    assert saved["real"]["n_pairs"] == 8 and saved["real"]["checkpoint"] == "simclr"
    assert saved["provenance"]["wall_time_s"] > 0
    assert saved["provenance"]["command"].startswith("python3 -m lesson.experiments.infonce_tau")
    assert "wrote" in capsys.readouterr().out
