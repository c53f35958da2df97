"""InfoNCE against temperature: aligned vs random toy embeddings, and a trained SimCLR's real pairs.

    python3 -m lesson.experiments.infonce_tau            # writes assets/results/infonce_tau.json

For each tau in the lesson's four values (0.05, 0.1, 0.2, 0.5):

- ``synthetic``: the mean InfoNCE of aligned toy pairs (``synthetic_pairs``, noise 0.5) and of
  random pairs (``random_pairs``) over many seeds, at the lesson's batch N = 16, D = 32
  (``ssl_core.losses.infonce_sweep.tau_sweep``); ``synthetic_large`` does the same at N = 512,
  D = 128, the real batch's shape;
- ``real``: the bundled SimCLR's InfoNCE on N = 512 real pairs (two SimCLR views of each of 512
  bundled Fashion-MNIST training images, ``lesson.figures.pairs.real_pairs``), over a few seeds, on
  the projections z (what the loss saw in training) and on the backbone features h;
  ``real_held_out`` the same on the bundled test split.

Each loss comes with log(2N - 1), the loss of a uniform softmax ("chance").
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lesson.figures.pairs import loss_against_tau, real_pairs, simclr_view_config
from lesson.results import Record, Result, Stopwatch, experiment_parser
from ssl_core import paths
from ssl_core.augment import ViewConfig
from ssl_core.losses.infonce_sweep import DEFAULT_TAUS, tau_sweep

__all__ = ["InfonceTauResult", "RealLosses", "SyntheticSweep", "main", "real_losses", "run"]

RESULT = "infonce_tau"


@dataclass(frozen=True, kw_only=True)
class SyntheticSweep(Record):
    """Mean InfoNCE of aligned and of random toy pairs at each tau, with standard errors."""

    n: int
    d: int
    noise: float
    seeds: int
    reference_loss: float | None = None  # log(2N - 1)
    aligned: list[float]
    aligned_sem: list[float] | None = None
    random: list[float]
    random_sem: list[float] | None = None


@dataclass(frozen=True, kw_only=True)
class RealLosses(Record):
    """A trained SimCLR's InfoNCE on real pairs at each tau: projections z and backbone h."""

    encoder: str
    split: str | None = None
    features: str | None = None
    n_pairs: int
    seeds: list[int] | None = None
    reference_loss: float | None = None  # log(2N - 1)
    loss: list[float]
    loss_sem: list[float] | None = None
    backbone_loss: list[float] | None = None
    backbone_loss_sem: list[float] | None = None
    positive_cosine: float | None = None
    checkpoint: str | None = None


@dataclass(frozen=True, kw_only=True)
class InfonceTauResult(Result):
    """The ``infonce_tau`` result: the lesson's four temperatures, toy and real."""

    NAME = "infonce_tau"

    taus: list[float]
    synthetic: SyntheticSweep
    synthetic_large: SyntheticSweep | None = None
    real: RealLosses | None = None
    real_held_out: RealLosses | None = None


def _mean_sem(rows: list[list[float]]) -> tuple[list[float], list[float]]:
    """Mean and standard error over seeds of ``rows: (S, T)`` -> two lists of T."""
    values = np.asarray(rows, dtype=np.float64)  # (S, T)
    mean = values.mean(axis=0)
    if len(values) < 2:
        return mean.tolist(), [0.0] * values.shape[1]
    sem = values.std(axis=0, ddof=1) / math.sqrt(len(values))
    return mean.tolist(), sem.tolist()


def real_losses(
    method: nn.Module,
    images: np.ndarray,
    *,
    taus: Sequence[float],
    n_pairs: int,
    seeds: Sequence[int],
    config: ViewConfig | None = None,
) -> dict[str, Any]:
    """InfoNCE of a SimCLR ``method`` on ``n_pairs`` real pairs of ``images`` at each tau.

    One batch per seed (``lesson.figures.pairs.real_pairs`` with the view pipeline ``config``, by
    default SimCLR's at the images' side). Returns ``{"n_pairs", "seeds", "reference_loss",
    "loss", "loss_sem", "backbone_loss", "backbone_loss_sem", "positive_cosine"}``: means and
    standard errors over the seeds, one value per tau; ``loss`` on the projections z,
    ``backbone_loss`` on the backbone features h.
    """
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("seeds must list at least one seed, e.g. (0, 1, 2)")
    if config is None:
        config = simclr_view_config(int(images.shape[1]))
    z_rows, h_rows, cosines = [], [], []
    for seed in seeds:
        pairs = real_pairs(method, images, n=n_pairs, seed=seed, config=config)
        z_rows.append(list(loss_against_tau(pairs.z1, pairs.z2, taus)))
        h_rows.append(list(loss_against_tau(pairs.h1, pairs.h2, taus)))
        cosines.append(torch.cosine_similarity(pairs.z1, pairs.z2).mean().item())
    loss, loss_sem = _mean_sem(z_rows)
    backbone_loss, backbone_sem = _mean_sem(h_rows)
    return {
        "n_pairs": n_pairs,
        "seeds": list(seeds),
        "reference_loss": math.log(2 * n_pairs - 1),
        "loss": loss,
        "loss_sem": loss_sem,
        "backbone_loss": backbone_loss,
        "backbone_loss_sem": backbone_sem,
        "positive_cosine": float(np.mean(cosines)),
    }


def _synthetic(taus: Sequence[float], *, n: int, d: int, noise: float,
               seeds: Sequence[int]) -> dict[str, Any]:
    sweep = tau_sweep(taus, n=n, d=d, noise=noise, seeds=seeds)
    return {
        "n": n, "d": d, "noise": noise, "seeds": len(sweep.seeds),
        "reference_loss": sweep.reference_loss,
        "aligned": list(sweep.aligned), "aligned_sem": list(sweep.aligned_sem),
        "random": list(sweep.random), "random_sem": list(sweep.random_sem),
    }


def run(
    *,
    taus: Sequence[float] = DEFAULT_TAUS,
    n: int = 16,
    d: int = 32,
    noise: float = 0.5,
    synthetic_seeds: int = 200,
    large: tuple[int, int] | None = (512, 128),
    large_seeds: int = 20,
    method: nn.Module | None = None,
    images: np.ndarray | None = None,
    held_out: np.ndarray | None = None,
    n_pairs: int = 512,
    real_seeds: Sequence[int] = (0, 1, 2),
    view_config: ViewConfig | None = None,
) -> dict[str, Any]:
    """The ``infonce_tau`` result (see the module docstring); small arguments for tests.

    ``method`` (a SimCLR in eval mode) with ``images`` (uint8 ``(M, H, W)``) adds ``real``;
    ``held_out`` adds ``real_held_out``; ``large=None`` leaves out ``synthetic_large``.
    ``view_config``: the view pipeline of the real pairs (default: SimCLR's at the images' side).
    """
    taus = [float(t) for t in taus]
    out: dict[str, Any] = {
        "taus": taus,
        "synthetic": _synthetic(taus, n=n, d=d, noise=noise, seeds=range(synthetic_seeds)),
    }
    if large is not None:
        out["synthetic_large"] = _synthetic(taus, n=large[0], d=large[1], noise=noise,
                                            seeds=range(large_seeds))
    if method is not None:
        if images is None:
            raise ValueError("pass images (uint8 (M, H, W)) with method to measure real pairs")
        common = dict(taus=taus, n_pairs=n_pairs, seeds=real_seeds, config=view_config)
        out["real"] = {"encoder": "simclr", "split": "train", "features": "projection z",
                       **real_losses(method, images, **common)}
        if held_out is not None:
            out["real_held_out"] = {"encoder": "simclr", "split": "test",
                                    "features": "projection z",
                                    **real_losses(method, held_out, **common)}
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = experiment_parser("infonce_tau", __doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=paths.checkpoints_dir() / "simclr",
                        help="SimCLR checkpoint directory (default: the bundled one)")
    parser.add_argument("--n-pairs", type=int, default=512)
    parser.add_argument("--seeds", type=int, default=3, help="real batches (seeds 0..S-1)")
    parser.add_argument("--out-dir", type=Path, default=None,
                        help="where to write infonce_tau.json (default assets/results)")
    args = parser.parse_args(argv)
    command = ["python3", "-m", "lesson.experiments.infonce_tau",
               *(sys.argv[1:] if argv is None else argv)]

    from lesson.figures.pairs import checkpoint_view_config
    from ssl_core.checkpoints import CONFIG_FILE, load_method, read_json
    from ssl_core.data import load_fashion_mnist

    with Stopwatch() as clock:
        method = load_method(args.checkpoint).eval().requires_grad_(False)
        train = load_fashion_mnist("train", source="bundled").images
        test = load_fashion_mnist("test", source="bundled").images
        view_config = checkpoint_view_config(read_json(args.checkpoint / CONFIG_FILE))
        result = run(method=method, images=train, held_out=test, n_pairs=args.n_pairs,
                     real_seeds=range(args.seeds), view_config=view_config)
        result["real"]["checkpoint"] = str(args.checkpoint.name)
    path = InfonceTauResult.from_json(result).save(command=" ".join(command),
                                                   wall_time_s=clock.seconds,
                                                   directory=args.out_dir)
    print(f"wrote {path} in {clock.seconds:.1f} s")
    reference = result["real"]["reference_loss"]
    print(f"taus {result['taus']}; real N={args.n_pairs}: log(2N-1) = {reference:.3f}")
    for key in ("synthetic", "synthetic_large"):
        block = result[key]
        print(f"{key} (N={block['n']}, D={block['d']}, log(2N-1) = "
              f"{block['reference_loss']:.3f}): aligned "
              f"{[round(v, 3) for v in block['aligned']]}, random "
              f"{[round(v, 3) for v in block['random']]}")
    for key in ("real", "real_held_out"):
        block = result[key]
        print(f"{key} ({block['split']}): z {[round(v, 3) for v in block['loss']]} "
              f"(sem {[round(v, 3) for v in block['loss_sem']]}), h "
              f"{[round(v, 3) for v in block['backbone_loss']]}")
    return result


if __name__ == "__main__":
    main()
