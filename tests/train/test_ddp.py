"""Two CPU processes (DDP over gloo, through Lightning Fabric) train one SimCLR step.

Each rank is a plain subprocess started with the environment torchrun would set (RANK,
WORLD_SIZE, MASTER_ADDR/PORT, LOCAL_RANK), so Fabric joins the group instead of spawning; both are
killed if they do not finish in time, so the test cannot hang. Checked:

- after one optimizer step both ranks hold bit-identical parameters;
- the loss saw the other rank's negatives: the embeddings each rank compares have 2 x 4 = 8 rows
  (the global batch), the loss equals InfoNCE on the concatenated global batch and differs from
  InfoNCE on the rank's own 4 images;
- the step equals one single-process step on the global batch of 8 (same loss, same parameters up
  to float rounding), because the data stream is the same whatever the number of processes.

The projection head has one layer here (no BatchNorm): BatchNorm statistics are per process on
CPU (SyncBatchNorm needs a GPU), which would make the single-process comparison inexact.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from ssl_core.data import ArrayImageDataset
from ssl_core.train import TrainConfig, Trainer

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[2]
WORKER_TIMEOUT_S = 120
CONFIG = {
    "method": "simclr",
    "steps": 3,
    "batch_size": 4,
    "lr": 1e-3,
    "warmup_steps": 0,
    "backbone_kwargs": {"depth": 1, "embed_dim": 32, "num_heads": 2},
    "method_config": {"proj_layers": 1, "proj_out_dim": 16, "temperature": 0.2},
    "accelerator": "cpu",
}

WORKER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import numpy as np
    import torch
    import torch.distributed as dist

    sys.path.insert(0, sys.argv[1])
    from ssl_core.data import ArrayImageDataset
    from ssl_core.distributed import gather_with_grad, shutdown
    from ssl_core.losses.infonce import info_nce
    from ssl_core.train import TrainConfig, Trainer

    out, config = Path(sys.argv[2]), json.loads(sys.argv[3])
    rng = np.random.default_rng(0)
    data = ArrayImageDataset(rng.integers(0, 256, (32, 28, 28), dtype=np.uint8), np.zeros(32))
    run = Trainer(TrainConfig(**config), dataset=data)
    assert dist.is_initialized() and run.runtime.world_size == 2
    tau = run.method.config.temperature
    with torch.no_grad():
        z1, z2 = run.method.project(*run.batches[0])  # this rank's 4 images
        g1, g2 = gather_with_grad(z1), gather_with_grad(z2)  # the global 8
        local_only = info_nce(z1, z2, tau).item()
        global_loss = info_nce(g1, g2, tau).item()
    metrics = next(run.steps())
    flat = torch.cat([p.detach().flatten() for p in run.method.parameters()])
    gathered = [torch.empty_like(flat) for _ in range(2)]
    dist.all_gather(gathered, flat)
    rank = run.runtime.global_rank
    (out / f"rank{rank}.json").write_text(json.dumps({
        "rows": g1.shape[0],
        "local_only_loss": local_only,
        "global_loss": global_loss,
        "step_loss": metrics["loss"],
        "ranks_identical": torch.equal(gathered[0], gathered[1]),
        "params": flat.tolist(),
    }))
    shutdown()  # both ranks meet, then the gloo group goes before the interpreter exits
    assert not dist.is_initialized()
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_ranks(tmp_path: Path, config: dict) -> list[dict]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    port = _free_port()
    procs = []
    for rank in range(2):
        env = os.environ | {
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": "2",
            "RANK": str(rank), "LOCAL_RANK": str(rank), "NODE_RANK": "0",
            "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1",
        }
        procs.append(subprocess.Popen(
            [sys.executable, str(script), str(REPO), str(tmp_path), json.dumps(config)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=WORKER_TIMEOUT_S))
    finally:
        for proc in procs:  # only our own children, by handle
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.mark.slow
def test_two_cpu_processes_match_one_process_on_the_global_batch(tmp_path: Path) -> None:
    ranks = _run_ranks(tmp_path, CONFIG | {"devices": 2})

    for rank in ranks:
        assert rank["ranks_identical"]  # all_gather of the parameters: bit-identical
        assert rank["rows"] == 8  # negatives from the global batch of 2 x 4
        assert rank["step_loss"] == pytest.approx(rank["global_loss"], rel=1e-5)
        assert abs(rank["local_only_loss"] - rank["global_loss"]) > 1e-3
    assert ranks[0]["params"] == ranks[1]["params"]

    rng = np.random.default_rng(0)
    data = ArrayImageDataset(rng.integers(0, 256, (32, 28, 28), dtype=np.uint8), np.zeros(32))
    single = Trainer(TrainConfig(**(CONFIG | {"devices": 1, "batch_size": 8})), dataset=data)
    metrics = next(single.steps())
    assert metrics["loss"] == pytest.approx(ranks[0]["step_loss"], rel=1e-5)
    flat = torch.cat([p.detach().flatten() for p in single.method.parameters()])
    assert torch.allclose(flat, torch.tensor(ranks[0]["params"]), atol=1e-5)
    # ...and it is not trivially equal to the start: the step moved the weights.
    start = Trainer(TrainConfig(**(CONFIG | {"devices": 1, "batch_size": 8})), dataset=data)
    initial = torch.cat([p.detach().flatten() for p in start.method.parameters()])
    assert (flat - initial).abs().max() > 1e-4
