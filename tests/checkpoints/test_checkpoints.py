from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

from ssl_core.checkpoints import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    load_checkpoint,
    load_train_state,
    save_checkpoint,
    save_train_state,
)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))


def test_round_trip_reproduces_outputs_exactly(tmp_path):
    model = _model().eval()
    x = torch.randn(5, 4)
    save_checkpoint(tmp_path / "ck", state_dict=model.state_dict(), config={"name": "toy", "d": 8})
    state, config = load_checkpoint(tmp_path / "ck")
    assert config == {"name": "toy", "d": 8}
    fresh = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2)).eval()
    fresh.load_state_dict(state)
    assert torch.equal(fresh(x), model(x))
    # the weights file itself can be named too
    state2, _ = load_checkpoint(tmp_path / "ck" / WEIGHTS_FILE)
    assert state2.keys() == state.keys()


class _Boom:
    """A pickle payload that would create a marker file if it were ever unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("name", ["evil.pt", "evil.pkl", WEIGHTS_FILE])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, name):
    marker = tmp_path / "pwned"
    directory = tmp_path / "ck"
    directory.mkdir()
    (directory / CONFIG_FILE).write_text("{}")
    payload = directory / name
    payload.write_bytes(pickle.dumps(_Boom(marker)))
    with pytest.raises(CheckpointError, match="pickle|safetensors"):
        load_checkpoint(payload)
    if name == WEIGHTS_FILE:
        with pytest.raises(CheckpointError, match="not a safetensors file"):
            load_checkpoint(directory)
    assert not marker.exists()


def test_truncated_and_missing_files_give_clear_errors(tmp_path):
    model = _model()
    save_checkpoint(tmp_path / "ck", state_dict=model.state_dict(), config={})
    weights = tmp_path / "ck" / WEIGHTS_FILE
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated|not a safetensors"):
        load_checkpoint(tmp_path / "ck")
    weights.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty or truncated"):
        load_checkpoint(tmp_path / "ck")
    with pytest.raises(CheckpointError, match="checkpoint not found: .*nowhere"):
        load_checkpoint(tmp_path / "nowhere")
    (tmp_path / "ck" / CONFIG_FILE).unlink()
    with pytest.raises(CheckpointError, match="missing config.json"):
        load_checkpoint(tmp_path / "ck")


def test_optimizer_state_round_trip_resumes_identically(tmp_path):
    model = _model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    save_checkpoint(tmp_path, state_dict=model.state_dict(), config={})
    save_train_state(tmp_path, optimizer_state=opt.state_dict(), extra={"step": 3},
                     tensors={"center": torch.ones(1, 3)})

    state, _ = load_checkpoint(tmp_path)
    model2 = _model()
    model2.load_state_dict(state)
    opt2 = torch.optim.AdamW(model2.parameters(), lr=1e-2)
    opt_state, extra, tensors = load_train_state(tmp_path)
    opt2.load_state_dict(opt_state)
    assert extra == {"step": 3}
    assert torch.equal(tensors["center"], torch.ones(1, 3))

    for m, o in ((model, opt), (model2, opt2)):
        o.zero_grad()
        nn.functional.cross_entropy(m(x), y).backward()
        o.step()
    for p1, p2 in zip(model.parameters(), model2.parameters(), strict=True):
        assert torch.equal(p1, p2)
