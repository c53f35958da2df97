"""Shared plumbing of the probing experiments: which encoders, on which data, and their features.

``probe_table`` and ``label_efficiency`` evaluate the same list of encoders, built here:

- every bundled checkpoint in ``assets/checkpoints/<name>/`` whose ``config.json`` describes a
  1-channel 28 x 28 backbone (Fashion-MNIST models: discovered, not hard-coded);
- for each, the same architecture at random initialisation (``ssl_core.probe``'s baseline, the
  bar pretraining has to clear);
- raw pixels (:class:`ssl_core.eval.RawPixels`).

Features of the bundled train/test splits are cached as ``.npz`` files in a cache directory (by
default a folder under the system's temp dir, never inside the repository), keyed by the
checkpoint's SHA-256 (or the random-init spec) and a hash of the data, so the second experiment
does not run the encoders again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lesson.results import experiment_parser
from ssl_core.images import images_to_batch

__all__ = [
    "DEFAULT_CACHE_DIR",
    "EncoderEntry",
    "ProbeData",
    "encoder_features",
    "evaluate_entry",
    "fashion_encoders",
    "load_probe_data",
    "probing_parser",
]

DEFAULT_CACHE_DIR = Path(tempfile.gettempdir()) / "ssl-explorer-features"
"""Default feature cache (outside the repository: caches are never committed)."""


@dataclass(frozen=True)
class EncoderEntry:
    """One encoder of the tables: how to build it and how to name it."""

    name: str  # row id, e.g. "simclr", "simclr_random", "raw_pixels"
    label: str  # for people, e.g. "SimCLR, cnn_small_28 (3000 steps)"
    kind: str  # "ssl" | "random" | "raw"
    backbone: str
    cache_key: str  # identifies the weights: checkpoint sha256, random-init spec, "raw"
    build: Callable[[], nn.Module] = field(repr=False, compare=False)
    checkpoint: Any = field(default=None, repr=False)  # its CheckpointInfo
    of: str | None = None  # for a random-init row: the checkpoint whose architecture it copies


def fashion_encoders(
    directory: str | Path | None = None,
    *,
    seed: int = 0,
    random_init: bool = True,
    raw: bool = True,
    names: Sequence[str] | None = None,
) -> list[EncoderEntry]:
    """The Fashion-MNIST encoders to evaluate: each bundled 1 x 28 x 28 checkpoint, then (with
    ``random_init``) its architecture at random init with ``seed``, then (with ``raw``) raw
    pixels. ``names`` keeps only those checkpoints (ValueError naming the valid ones otherwise).
    ValueError when ``directory`` holds no such checkpoint: there is nothing to compare.
    """
    from ssl_core.checkpoints import list_checkpoints, load_encoder, random_init_encoder
    from ssl_core.eval import RawPixels
    from ssl_core.methods import METHOD_LABELS

    infos = [info for info in list_checkpoints(directory) if info.is_fashion]
    if names is not None:
        known = {info.name for info in infos}
        unknown = sorted(set(names) - known)
        if unknown:
            raise ValueError(
                f"no Fashion-MNIST checkpoint named {unknown} in {directory}; available: "
                f"{', '.join(sorted(known)) or 'none'}"
            )
        infos = [info for info in infos if info.name in set(names)]
    if not infos:
        raise ValueError(
            f"no checkpoint with a 1-channel 28x28 backbone in {directory}; train one with "
            "`python -m ssl_core.pretrain --method simclr --out runs/simclr` and copy it there"
        )
    entries: list[EncoderEntry] = []
    for info in infos:
        method = METHOD_LABELS.get(info.method, info.method)
        entries.append(EncoderEntry(
            name=info.name,
            label=f"{method}, {info.backbone} ({info.step} steps)",
            kind="ssl",
            backbone=info.backbone,
            cache_key=f"checkpoint:{info.sha256}",
            build=lambda path=info.path: load_encoder(path),
            checkpoint=info,
        ))
        if random_init:
            spec = {k: info.config.get(k) for k in
                    ("method", "method_config", "backbone", "backbone_kwargs")}
            spec_hash = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
            entries.append(EncoderEntry(
                name=f"{info.name}_random",
                label=f"{info.backbone} as in {info.name}, random init (seed {seed})",
                kind="random",
                backbone=info.backbone,
                cache_key=f"random:{spec_hash}:{seed}",
                build=lambda config=info.config: random_init_encoder(config, seed=seed),
                checkpoint=info,
                of=info.name,
            ))
    if raw:
        entries.append(EncoderEntry(name="raw_pixels", label="raw pixels (784 values)",
                                    kind="raw", backbone="none", cache_key="raw",
                                    build=RawPixels))
    return entries


@dataclass(frozen=True)
class ProbeData:
    """Train and test arrays: ``(uint8 images (N, 28, 28), labels (N,))`` each."""

    train: tuple[np.ndarray, np.ndarray] = field(repr=False)
    test: tuple[np.ndarray, np.ndarray] = field(repr=False)
    label: str  # describes the data for the protocol strings
    sha256: str  # of the arrays (the cache key's data half)

    @property
    def n_classes(self) -> int:
        return int(max(self.train[1].max(), self.test[1].max())) + 1


def load_probe_data(
    *, limit_train: int | None = None, limit_test: int | None = None, seed: int = 0
) -> ProbeData:
    """Bundled Fashion-MNIST (20,000 train / 10,000 test) as ``python -m ssl_core.probe`` reads
    it; ``limit_*`` take the same fixed random subsets as its ``--limit-train/--limit-test``."""
    from ssl_core.data import array_subset, load_fashion_mnist

    train = array_subset(load_fashion_mnist("train", source="bundled"), limit_train, seed=seed)
    test = array_subset(load_fashion_mnist("test", source="bundled"), limit_test, seed=seed)
    label = (f"Fashion-MNIST (bundled subset): {len(train[1]):,} train images (labels for the "
             f"probes), {len(test[1]):,} test images")
    if limit_train or limit_test:
        label += " (fixed random subsets)"
    digest = hashlib.sha256()
    for array in (*train, *test):
        digest.update(np.ascontiguousarray(array).tobytes())
    return ProbeData(train=train, test=test, label=label, sha256=digest.hexdigest())


# --------------------------------------------------------------------------------------------
# Features, cached
# --------------------------------------------------------------------------------------------

Features = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x_train, y_train, x_test, y_test


def _cache_file(entry: EncoderEntry, data: ProbeData, cache_dir: Path) -> Path:
    key = hashlib.sha256(f"{entry.cache_key}|{data.sha256}".encode()).hexdigest()[:32]
    return cache_dir / f"{entry.name}-{key}.npz"


def _read_cache(entry: EncoderEntry, data: ProbeData, cache_dir: Path | None) -> Features | None:
    if cache_dir is None:
        return None
    path = _cache_file(entry, data, cache_dir)
    if not path.is_file():
        return None
    try:
        with np.load(path) as stored:
            feats = (stored["x_train"], stored["y_train"], stored["x_test"], stored["y_test"])
    except (OSError, KeyError, ValueError):
        return None  # a broken cache file is recomputed, never trusted
    if not (np.array_equal(feats[1], data.train[1]) and np.array_equal(feats[3], data.test[1])):
        return None
    return feats


def _write_cache(entry: EncoderEntry, data: ProbeData, cache_dir: Path | None,
                 feats: Features) -> None:
    if cache_dir is None:
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = _cache_file(entry, data, cache_dir)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, x_train=feats[0], y_train=feats[1], x_test=feats[2], y_test=feats[3])
    tmp.replace(path)


def encoder_features(
    entry: EncoderEntry, data: ProbeData, *, cache_dir: str | Path | None = None,
    batch_size: int = 256,
) -> Features:
    """``(x_train (N, D), y_train (N,), x_test (M, D), y_test (M,))`` of ``entry`` on ``data``,
    from the cache when present (then written to it)."""
    from ssl_core.eval import extract_features

    folder = Path(cache_dir) if cache_dir is not None else None
    cached = _read_cache(entry, data, folder)
    if cached is not None:
        return cached
    encoder = entry.build()
    x_train, y_train = extract_features(encoder, data.train, batch_size=batch_size)  # (N, D)
    x_test, y_test = extract_features(encoder, data.test, batch_size=batch_size)  # (M, D)
    feats = (x_train, y_train, x_test, y_test)
    _write_cache(entry, data, folder, feats)
    return feats


class _Recorder(nn.Module):
    """Wraps an encoder and keeps every ``forward_features`` output, in call order."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.inner = encoder
        self.outputs: list[Tensor] = []
        for attribute in ("in_chans", "img_size"):  # what images.batch_adapter looks at
            if hasattr(encoder, attribute):
                setattr(self, attribute, getattr(encoder, attribute))

    def forward_features(self, x: Tensor) -> Tensor:
        z = self.inner.forward_features(x)  # (B, D)
        self.outputs.append(z.detach().float().cpu())
        return z


def _matches(encoder: nn.Module, images: np.ndarray, recorded: np.ndarray) -> bool:
    """Whether ``recorded`` (n, D) are the encoder's features of ``images`` (n, 28, 28)."""
    from ssl_core.eval import extract_features

    check, _ = extract_features(encoder, (images, np.zeros(len(images), dtype=np.int64)))
    return bool(np.allclose(check, recorded, rtol=1e-4, atol=1e-5))


class _ReplayMismatch(RuntimeError):
    """The replayed batches are not the data the cache was made from."""


class _Replay(nn.Module):
    """An "encoder" that returns cached features, checking each batch is the expected images.

    images: uint8 ``(N + M, 28, 28)`` (train then test), features ``(N + M, D)`` in the same
    order. Any batch that is not exactly the next images (as extract_features scales them)
    raises :class:`_ReplayMismatch`, so a replay can never hand back the wrong rows.
    """

    def __init__(self, images: np.ndarray, features: np.ndarray) -> None:
        super().__init__()
        self.images = images
        self.features = torch.from_numpy(np.ascontiguousarray(features))
        self.cursor = 0

    def forward_features(self, x: Tensor) -> Tensor:
        b = x.shape[0]
        chunk = self.images[self.cursor : self.cursor + b]
        expected = images_to_batch(chunk)  # (B, 1, H, W), as extract_features scales them
        if x.shape != expected.shape or not torch.equal(x.cpu(), expected):
            raise _ReplayMismatch("cached features do not line up with the batches")
        out = self.features[self.cursor : self.cursor + b]  # (B, D)
        self.cursor += b
        return out.to(x.device)


def evaluate_entry(entry: EncoderEntry, data: ProbeData, *, labels_per_class: int,
                   max_iter: int = 1000, seed: int = 0, solver: str = "torch",
                   cache_dir: str | Path | None = None) -> dict[str, Any]:
    """``ssl_core.eval.report.evaluate_encoder`` on ``entry`` (kNN k=200/k=20 T=0.1, linear probe
    with all labels and with ``labels_per_class``): its dict, with the features cached.

    With cached features the encoder is not run: the cache is replayed batch by batch (each batch
    checked against the images). Otherwise the features evaluate_encoder extracts (train first,
    then test) are recorded on the way and cached after a spot check against a direct
    extraction of a few images.
    """
    from ssl_core.eval.report import evaluate_encoder

    options = dict(labels_per_class=labels_per_class, solver=solver, max_iter=max_iter,
                   seed=seed, data_label=data.label)
    folder = Path(cache_dir) if cache_dir is not None else None
    cached = _read_cache(entry, data, folder)
    if cached is not None:
        replay = _Replay(np.concatenate([data.train[0], data.test[0]]),
                         np.concatenate([cached[0], cached[2]]))
        try:
            result = evaluate_encoder(replay, data.train, data.test, **options)
        except _ReplayMismatch:
            pass
        else:
            return result | {"features_from_cache": True}
    encoder = entry.build()
    recorder = _Recorder(encoder)
    result = evaluate_encoder(recorder, data.train, data.test, **options)
    n_train, n_test = len(data.train[1]), len(data.test[1])
    if recorder.outputs and folder is not None:
        recorded = torch.cat(recorder.outputs).numpy()  # (N + M, D)
        if recorded.shape[0] == n_train + n_test:
            k = min(8, n_train, n_test)
            x_train, x_test = recorded[:n_train], recorded[n_train:]
            if (_matches(encoder, data.train[0][:k], x_train[:k])
                    and _matches(encoder, data.test[0][:k], x_test[:k])):
                _write_cache(entry, data, folder,
                             (x_train, data.train[1].astype(np.int64), x_test,
                              data.test[1].astype(np.int64)))
    return result | {"features_from_cache": False}


def probing_parser(name: str, description: str, *,
                   shares_cache_with: str) -> argparse.ArgumentParser:
    """The command line both probing experiments share: which checkpoints, quick-check limits,
    the probe's iterations, the feature cache (shared with the other experiment) and where the
    result goes. The caller adds its own arguments."""
    parser = experiment_parser(name, description)
    parser.add_argument("--checkpoints", default=None,
                        help="folder of checkpoint directories [assets/checkpoints]")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these checkpoints")
    parser.add_argument("--limit-train", type=int, metavar="N", help="quick check: N train")
    parser.add_argument("--limit-test", type=int, metavar="N", help="quick check: N test")
    parser.add_argument("--max-iter", type=int, default=1000, help="L-BFGS iterations [1000]")
    parser.add_argument("--cache-dir", default=str(DEFAULT_CACHE_DIR),
                        help=f"feature cache shared with {shares_cache_with} ('' = none) "
                        f"[{DEFAULT_CACHE_DIR}]")
    parser.add_argument("--results-dir", help=f"where to write {name}.json [assets/results]")
    return parser
