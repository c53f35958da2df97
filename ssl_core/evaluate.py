"""Evaluation of frozen encoders: features, weighted kNN, linear probe, label efficiency, retrieval.

Everything here works for any encoder behind the project's contract
``encoder.forward_features(x: (B, C, H, W) float) -> (B, D)`` -- our own ViT / CNN / U-Net encoders,
the transformers adapters, and :class:`RawPixels`, which flattens the image so that the same
pipeline gives the raw-pixel baseline every table should show next to a learned encoder.

The stages, each a function a page or a test can call on its own:

1. :func:`extract_features` runs the frozen encoder over a dataset (batched, under
   ``torch.inference_mode``, in eval mode) and returns ``(features (N, D), labels (N,))`` as numpy.
2. :func:`knn_predict` / :func:`knn_accuracy`: the weighted kNN classifier of InstDisc (Wu et al.
   2018) as used by lightly's published benchmarks -- cosine similarity, the ``k`` most similar
   training features vote with weight ``exp(sim / T)``; defaults ``k=200, T=0.1``.
3. :func:`linear_probe`: multinomial logistic regression on the frozen features (scikit-learn, or
   the same objective minimised by full-batch L-BFGS in torch), and :func:`probe_encoder`, which
   extracts the features itself and verifies that the encoder's weights did not change.
4. :func:`subsample_per_class` / :func:`label_efficiency`: the probe with 1, 10, 100 or all
   labels per class, mean and std over seeds.
5. :func:`retrieve` (cosine top-k with scores) and :func:`patch_similarity` (a heat map of how
   similar each patch of an image is to a query vector, for ViT encoders).

Inputs. Encoders are trained on images scaled to ``[0, 1]``: ``uint8`` images are divided by 255
here, float images are used as they are, and any further normalisation (mean/std, resizing for a
pretrained transformers model) is the ``transform`` argument, applied to the float batch.

Devices. :func:`extract_features` never moves the caller's module: the app shares one cached model
across sessions and threads, so a temporary ``encoder.to(device)`` would race. Features are
computed where the encoder's weights live; put the encoder on the GPU yourself to use it. The
maths functions (kNN, retrieval, torch probe) take numpy or torch inputs, run in torch on
``device`` (default: CUDA when available) and return numpy.

Accuracies are fractions in ``[0, 1]``, not percentages.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ssl_core.images import to_float_batch

__all__ = [
    "ProbeResult",
    "RawPixels",
    "extract_features",
    "knn_accuracy",
    "knn_predict",
    "label_efficiency",
    "linear_probe",
    "patch_similarity",
    "probe_encoder",
    "retrieve",
    "subsample_per_class",
    "weights_fingerprint",
]

ArrayLike = np.ndarray | Tensor
ProgressCallback = Callable[[int, int], None]


# --------------------------------------------------------------------------------------------
# Feature extraction
# --------------------------------------------------------------------------------------------


class RawPixels(nn.Module):
    """The raw-pixel "encoder": ``forward_features(x: (B, C, H, W)) -> (B, C * H * W)``.

    It has no parameters; run it through :func:`extract_features` and the kNN / probe functions to
    get the pixel baselines that a learned encoder has to beat.
    """

    def forward_features(self, x: Tensor) -> Tensor:
        """Flatten each image into one vector."""
        return x.flatten(1)  # (B, C * H * W)

    def forward(self, x: Tensor) -> Tensor:
        """Same as :meth:`forward_features`."""
        return self.forward_features(x)


def _module_device(module: nn.Module) -> torch.device | None:
    """The device of the module's first parameter or buffer, or None if it has neither."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return None


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _resolve_encoder_device(encoder: nn.Module, device: str | torch.device | None) -> torch.device:
    """Where to run ``encoder``: where its weights are; ``device`` may only confirm that."""
    home = _module_device(encoder)
    if device is None:
        return home if home is not None else _default_device()
    wanted = torch.device(device)
    if home is not None and (home.type, home.index or 0) != (wanted.type, wanted.index or 0):
        raise ValueError(
            f"the encoder's weights are on {home} but device={wanted} was requested; "
            "extract_features does not move the caller's module (it may be shared), so move it "
            f"yourself with encoder.to({str(wanted)!r}) or pass device=None"
        )
    return wanted


def _collate(samples: list[Any]) -> tuple[Tensor, Tensor]:
    """Stack ``(image, label)`` samples into ``(images (B, ...), labels (B,))``."""
    images, labels = [], []
    for sample in samples:
        if not isinstance(sample, tuple | list) or len(sample) != 2:
            raise ValueError(
                "a dataset passed to extract_features must yield (image, label) pairs; got "
                f"{type(sample).__name__}"
            )
        image, label = sample
        if isinstance(image, np.ndarray):
            image = torch.from_numpy(np.array(image))  # a copy: the array may be read-only
        if not isinstance(image, Tensor):
            raise ValueError(
                f"dataset images must be tensors (C, H, W) or (H, W); got {type(image).__name__} "
                "(give the dataset a transform such as torchvision.transforms.v2.PILToTensor())"
            )
        images.append(image)
        labels.append(int(label))
    shapes = {tuple(image.shape) for image in images}
    if len(shapes) > 1:
        raise ValueError(
            f"dataset images in one batch have different shapes {sorted(shapes)}; give the "
            "dataset a transform that resizes them (e.g. v2.Resize(s) then v2.CenterCrop(s))"
        )
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64)


def _batches(
    data: Any, *, batch_size: int, num_workers: int, pin_memory: bool
) -> tuple[int, Iterator[tuple[Tensor, Tensor]]]:
    """``(N, iterator over (images, labels) batches)`` for a dataset or an ``(images, labels)``."""
    if isinstance(data, tuple):
        if len(data) != 2:
            raise ValueError(
                f"data given as a tuple must be (images, labels); got a tuple of length {len(data)}"
            )
        images, labels = data
        labels = torch.from_numpy(np.array(labels, dtype=np.int64))
        if not isinstance(images, np.ndarray | Tensor) or images.ndim not in (3, 4):
            raise ValueError(
                "images must be an array or tensor (N, C, H, W) or (N, H, W); got "
                f"{getattr(images, 'shape', type(images).__name__)}"
            )
        if labels.shape != (images.shape[0],):
            raise ValueError(
                f"labels must have shape ({images.shape[0]},) to match {images.shape[0]} images; "
                f"got {tuple(labels.shape)}"
            )
        n = images.shape[0]

        def array_batches() -> Iterator[tuple[Tensor, Tensor]]:
            for start in range(0, n, batch_size):
                batch = images[start : start + batch_size]
                if isinstance(batch, np.ndarray):  # copy: the array may be read-only (a memmap)
                    batch = torch.from_numpy(np.array(batch))
                yield batch, labels[start : start + batch_size]

        return n, array_batches()
    if not (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
        raise ValueError(
            "data must be a map-style dataset yielding (image, label) or a tuple "
            f"(images, labels); got {type(data).__name__}"
        )
    loader = DataLoader(
        data,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=_collate,
        pin_memory=pin_memory,
    )
    return len(data), iter(loader)


def extract_features(
    encoder: nn.Module,
    data: Any,
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    transform: Callable[[Tensor], Tensor] | None = None,
    num_workers: int = 0,
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run a frozen encoder over ``data``: ``(features (N, D) float32, labels (N,) int64)``.

    Args:
        encoder: any module with ``forward_features(x: (B, C, H, W) float) -> (B, D)``.
        data: a map-style dataset yielding ``(image, label)`` with ``image`` a tensor ``(C, H, W)``
            or ``(H, W)`` (uint8 like ``ssl_core.data``'s datasets, or float), or a tuple
            ``(images, labels)`` with ``images`` an array/tensor ``(N, C, H, W)`` or ``(N, H, W)``.
            uint8 images are scaled to ``[0, 1]`` (the range the encoders are trained on); float
            images are used as they are.
        batch_size: images per forward pass; the last batch may be smaller.
        device: where to run. None means where the encoder's weights are (CUDA if available for a
            parameter-free encoder such as :class:`RawPixels`). The encoder is never moved: a
            ``device`` that differs from its weights' device raises ValueError.
        transform: applied to each float batch ``(B, C, H, W)`` on ``device`` before the encoder,
            e.g. ``torchvision.transforms.v2.Normalize(mean, std)`` or a resize.
        num_workers: DataLoader workers for a dataset (ignored for the tuple form).
        progress: called as ``progress(done, total)`` after each batch (the app's progress bar).

    The encoder runs under ``torch.inference_mode`` in eval mode; every submodule's training flag
    is restored afterwards, also when the encoder raises.
    """
    if not callable(getattr(encoder, "forward_features", None)):
        raise ValueError(
            f"{type(encoder).__name__} has no forward_features method; encoders must implement "
            "forward_features(x: (B, C, H, W)) -> (B, D) (wrap other models in a small adapter)"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    run_device = _resolve_encoder_device(encoder, device)
    total, batches = _batches(
        data, batch_size=batch_size, num_workers=num_workers, pin_memory=run_device.type == "cuda"
    )
    if total == 0:
        raise ValueError("data is empty; there is nothing to extract features from")

    modes = {module: module.training for module in encoder.modules()}
    features: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    done = 0
    encoder.eval()
    try:
        with torch.inference_mode():
            for images, batch_labels in batches:
                x = to_float_batch(images.to(run_device, non_blocking=True))  # (B, C, H, W)
                if transform is not None:
                    x = transform(x)
                z = encoder.forward_features(x)  # (B, D)
                if z.ndim != 2 or z.shape[0] != x.shape[0]:
                    raise ValueError(
                        f"{type(encoder).__name__}.forward_features must return (B, D) = "
                        f"({x.shape[0]}, D); got {tuple(z.shape)}"
                    )
                features.append(z.float().cpu().numpy())
                labels.append(batch_labels.cpu().numpy().astype(np.int64))
                done += x.shape[0]
                if progress is not None:
                    progress(done, total)
    finally:
        for module, training in modes.items():
            module.training = training
    return np.concatenate(features), np.concatenate(labels)  # (N, D), (N,)


# --------------------------------------------------------------------------------------------
# Shared helpers for the maths on features
# --------------------------------------------------------------------------------------------


def _writable_float32(x: Any) -> np.ndarray:
    """``x`` as a float32 numpy array that torch may wrap (copied only if read-only or cast)."""
    array = np.asarray(x, dtype=np.float32)
    return array if array.flags.writeable else array.copy()


def _as_features(x: ArrayLike, name: str, device: torch.device) -> Tensor:
    """A finite float32 ``(N, D)`` tensor on ``device``."""
    t = x.detach() if isinstance(x, Tensor) else torch.from_numpy(_writable_float32(x))
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (N, D); got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(t.shape)})")
    t = t.to(device=device, dtype=torch.float32)
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf; check the encoder's outputs")
    return t


def _as_labels(y: ArrayLike, name: str, n: int) -> np.ndarray:
    """Non-negative int64 labels ``(n,)`` as numpy."""
    labels = y.detach().cpu().numpy() if isinstance(y, Tensor) else np.asarray(y)
    if labels.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the features; got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must be integers; got dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ValueError(
            f"{name} contains negative values (e.g. -1 = unlabelled); drop those items first"
        )
    return labels.astype(np.int64)


def _maths_device(device: str | torch.device | None, *inputs: ArrayLike) -> torch.device:
    if device is not None:
        return torch.device(device)
    for x in inputs:
        if isinstance(x, Tensor):
            return x.device
    return _default_device()


def _cosine_topk_chunks(
    query: Tensor, gallery: Tensor, *, k: int, batch_size: int, exclude_self: bool = False
) -> Iterator[tuple[Tensor, Tensor]]:
    """Top-``k`` cosine similarities of each query row among the gallery rows, chunk by chunk.

    ``query: (Q, D)``, ``gallery: (N, D)``; yields ``(scores (b, k), indices (b, k))`` for
    consecutive chunks of ``b <= batch_size`` queries, scores descending along each row. Only one
    ``(batch_size, N)`` similarity block is held at a time. With ``exclude_self`` query ``i`` is
    gallery item ``i`` and is never returned for itself.
    """
    q = F.normalize(query, dim=1)  # (Q, D) unit rows
    g = F.normalize(gallery, dim=1)  # (N, D) unit rows
    for start in range(0, q.shape[0], batch_size):
        sim = q[start : start + batch_size] @ g.T  # (b, N)
        if exclude_self:
            rows = torch.arange(sim.shape[0], device=sim.device)
            sim[rows, rows + start] = -math.inf
        yield sim.topk(k, dim=1)  # (b, k) scores, (b, k) indices


def _check_positive_int(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")


# --------------------------------------------------------------------------------------------
# Weighted kNN
# --------------------------------------------------------------------------------------------


def knn_predict(
    train_features: ArrayLike,
    train_labels: ArrayLike,
    query_features: ArrayLike,
    *,
    k: int = 200,
    temperature: float = 0.1,
    num_classes: int | None = None,
    batch_size: int = 512,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Weighted kNN predictions ``(Q,)`` int64 for ``query_features (Q, D)``.

    The protocol of InstDisc (Wu et al. 2018) and lightly's ``knn_predict`` benchmarks: features
    are L2-normalised, each query takes its ``k`` most cosine-similar training features, and each
    neighbour votes for its class with weight ``exp(sim / temperature)``; the class with the largest
    summed weight wins (ties go to the lower class index). The weights are computed as
    ``exp((sim - max sim) / temperature)``, the same vote scaled by a per-query constant, so that a
    small temperature cannot overflow.

    Args:
        train_features: ``(N, D)``; train_labels: ``(N,)`` non-negative ints.
        query_features: ``(Q, D)``.
        k: neighbours per query; 200 (lightly's benchmarks) or 20 are the usual choices. ``k``
            larger than N raises ValueError rather than silently voting with fewer neighbours.
        temperature: softness of the vote; small values approach a plain majority of the closest.
        num_classes: defaults to ``max(train_labels) + 1``.
        batch_size: queries per chunk; memory is about ``batch_size * N * 4`` bytes
            (512 x 60,000 -> 123 MB).
        device: where to compute; default the inputs' device if they are tensors, else CUDA when
            available, else CPU.
    """
    _check_positive_int(k, "k")
    _check_positive_int(batch_size, "batch_size")
    if not temperature > 0:
        raise ValueError(
            f"temperature must be > 0 (lightly's benchmarks use 0.1); got {temperature}"
        )
    dev = _maths_device(device, train_features, query_features)
    train = _as_features(train_features, "train_features", dev)  # (N, D)
    query = _as_features(query_features, "query_features", dev)  # (Q, D)
    labels = _as_labels(train_labels, "train_labels", train.shape[0])
    if query.shape[1] != train.shape[1]:
        raise ValueError(
            f"query_features have D={query.shape[1]} but train_features have D={train.shape[1]}"
        )
    if k > train.shape[0]:
        raise ValueError(
            f"k={k} exceeds the {train.shape[0]} training features; pass k <= {train.shape[0]}"
        )
    n_classes = int(labels.max()) + 1 if num_classes is None else num_classes
    if labels.max() >= n_classes:
        raise ValueError(
            f"train_labels go up to {labels.max()} but num_classes={n_classes}; "
            "pass num_classes > max label or leave it None"
        )
    label_t = torch.from_numpy(labels).to(dev)  # (N,)
    predictions = []
    for sim, idx in _cosine_topk_chunks(query, train, k=k, batch_size=batch_size):  # (b, k) each
        weights = ((sim - sim[:, :1]) / temperature).exp()  # (b, k), largest weight 1
        votes = torch.zeros(sim.shape[0], n_classes, device=dev)  # (b, C)
        votes.scatter_add_(1, label_t[idx], weights)
        predictions.append(votes.argmax(dim=1))
    return torch.cat(predictions).cpu().numpy().astype(np.int64)


def knn_accuracy(
    train_features: ArrayLike,
    train_labels: ArrayLike,
    query_features: ArrayLike,
    query_labels: ArrayLike,
    *,
    k: int = 200,
    temperature: float = 0.1,
    num_classes: int | None = None,
    batch_size: int = 512,
    device: str | torch.device | None = None,
) -> float:
    """Fraction of ``query_labels (Q,)`` that :func:`knn_predict` gets right, in ``[0, 1]``."""
    truth = _as_labels(query_labels, "query_labels", len(query_features))
    predicted = knn_predict(
        train_features,
        train_labels,
        query_features,
        k=k,
        temperature=temperature,
        num_classes=num_classes,
        batch_size=batch_size,
        device=device,
    )
    return float((predicted == truth).mean())


# --------------------------------------------------------------------------------------------
# Linear probe
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class ProbeResult:
    """What a linear probe measured.

    ``per_class_accuracy[c]`` is the recall of class ``c`` on the test set (NaN for a class with no
    test items); ``confusion[t, p]`` counts test items of true class ``t`` predicted as ``p``.
    ``encoder_unchanged`` is True when :func:`probe_encoder` verified the encoder's weights, None
    when the probe ran on features alone.
    """

    accuracy: float
    per_class_accuracy: np.ndarray  # (C,) float64
    confusion: np.ndarray  # (C, C) int64, rows = true class, columns = predicted
    n_train: int
    n_test: int
    protocol: str
    encoder_unchanged: bool | None = None


PROBE_METHODS = ("sklearn", "torch")


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale both sets with the train set's per-feature mean and std (std 0 -> 1)."""
    mean = train.mean(axis=0, keepdims=True)  # (1, D)
    std = train.std(axis=0, keepdims=True)  # (1, D)
    std[std == 0] = 1.0  # constant features (e.g. border pixels) stay constant, not NaN
    return (train - mean) / std, (test - mean) / std


def _fit_predict_sklearn(
    train: np.ndarray, labels: np.ndarray, test: np.ndarray, *, C: float, max_iter: int, seed: int
) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    # lbfgs on more than two classes minimises the multinomial (softmax) cross-entropy:
    # mean CE + ||W||^2 / (2 C N), intercept not penalised.
    model = LogisticRegression(C=C, max_iter=max_iter, solver="lbfgs", random_state=seed)
    model.fit(train, labels)
    return model.predict(test).astype(np.int64)


def _fit_predict_torch(
    train: np.ndarray,
    labels: np.ndarray,
    test: np.ndarray,
    *,
    C: float,
    max_iter: int,
    seed: int,
    num_classes: int,
    device: torch.device,
) -> np.ndarray:
    """The sklearn objective (softmax CE + ||W||^2 / (2 C N)) minimised by full-batch L-BFGS."""
    x = torch.from_numpy(train).to(device=device, dtype=torch.float32)  # (N, D)
    y = torch.from_numpy(labels).to(device)  # (N,)
    generator = torch.Generator().manual_seed(seed)
    head = nn.Linear(x.shape[1], num_classes)
    with torch.no_grad():  # seeded init, the same on every device
        head.weight.copy_(torch.randn(head.weight.shape, generator=generator) * 0.01)
        head.bias.zero_()
    head = head.to(device)
    l2 = 1.0 / (C * x.shape[0])
    optimiser = torch.optim.LBFGS(
        head.parameters(),
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=1e-6,
        tolerance_change=1e-9,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def closure() -> Tensor:
        optimiser.zero_grad()
        loss = F.cross_entropy(head(x), y) + 0.5 * l2 * head.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimiser.step(closure)
        with torch.no_grad():
            logits = head(torch.from_numpy(test).to(device=device, dtype=torch.float32))  # (M, C)
    return logits.argmax(dim=1).cpu().numpy().astype(np.int64)


def linear_probe(
    train_features: ArrayLike,
    train_labels: ArrayLike,
    test_features: ArrayLike,
    test_labels: ArrayLike,
    *,
    method: str = "sklearn",
    C: float = 1.0,
    max_iter: int = 1000,
    standardize: bool = True,
    seed: int = 0,
    num_classes: int | None = None,
    device: str | torch.device | None = None,
) -> ProbeResult:
    """Fit a linear classifier on frozen ``train_features (N, D)`` and score it on the test set.

    Both methods minimise the same objective, multinomial logistic regression
    ``mean softmax cross-entropy + ||W||^2 / (2 C N)`` (the bias is not penalised):
    ``"sklearn"`` with scikit-learn's lbfgs ``LogisticRegression``, ``"torch"`` with full-batch
    L-BFGS in torch on ``device`` (use it for large N x D on a GPU). Both are deterministic.

    Args:
        C: inverse regularisation strength; 1.0 is a sound default for standardised features,
            smaller (0.1, 0.01) when there are few labels per class.
        max_iter: L-BFGS iterations; raise it if scikit-learn warns that it did not converge.
        standardize: scale features with the train set's mean and std first (recommended: the
            probe's C then means the same thing for every encoder).
        num_classes: defaults to ``max(train, test labels) + 1`` (sizes the confusion matrix).
    """
    if method not in PROBE_METHODS:
        raise ValueError(f"method must be one of {PROBE_METHODS}; got {method!r}")
    if not C > 0:
        raise ValueError(f"C must be > 0 (inverse regularisation strength); got {C}")
    _check_positive_int(max_iter, "max_iter")
    dev = _maths_device(device, train_features, test_features)
    cpu = torch.device("cpu")
    train = _as_features(train_features, "train_features", cpu).numpy().astype(np.float64)
    test = _as_features(test_features, "test_features", cpu).numpy().astype(np.float64)
    y_train = _as_labels(train_labels, "train_labels", train.shape[0])
    y_test = _as_labels(test_labels, "test_labels", test.shape[0])
    if test.shape[1] != train.shape[1]:
        raise ValueError(
            f"test_features have D={test.shape[1]} but train_features have D={train.shape[1]}"
        )
    present = np.unique(y_train)
    if present.size < 2:
        raise ValueError(
            f"the training labels contain only class {present.tolist()}; a probe needs at least "
            "two classes"
        )
    n_classes = int(max(y_train.max(), y_test.max())) + 1 if num_classes is None else num_classes
    if max(y_train.max(), y_test.max()) >= n_classes:
        raise ValueError(f"labels exceed num_classes={n_classes}; pass a larger num_classes")
    if standardize:
        train, test = _standardise(train, test)

    if method == "sklearn":
        predicted = _fit_predict_sklearn(train, y_train, test, C=C, max_iter=max_iter, seed=seed)
        solver = "scikit-learn lbfgs"
    else:
        predicted = _fit_predict_torch(
            train,
            y_train,
            test,
            C=C,
            max_iter=max_iter,
            seed=seed,
            num_classes=n_classes,
            device=dev,
        )
        solver = "torch full-batch L-BFGS"

    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (y_test, predicted), 1)
    support = confusion.sum(axis=1)  # (C,) test items per true class
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(support > 0, np.diag(confusion) / support, np.nan)
    scaling = "standardised features" if standardize else "raw features"
    protocol = (
        f"multinomial logistic regression ({solver}, C={C:g}, max_iter={max_iter}, {scaling}) "
        f"on frozen features; {train.shape[0]} train / {test.shape[0]} test items, "
        f"{present.size} classes"
    )
    return ProbeResult(
        accuracy=float((predicted == y_test).mean()),
        per_class_accuracy=per_class,
        confusion=confusion,
        n_train=int(train.shape[0]),
        n_test=int(test.shape[0]),
        protocol=protocol,
    )


def weights_fingerprint(module: nn.Module) -> str:
    """SHA-256 over every parameter and buffer of ``module`` (names, dtypes, shapes and bytes).

    Two calls return the same string exactly when nothing in the module's ``state_dict`` changed.
    Costs one pass over the weights (about half a second for a ViT-B on CPU).
    """
    digest = hashlib.sha256()
    for name, tensor in module.state_dict(keep_vars=False).items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def probe_encoder(
    encoder: nn.Module,
    train_data: Any,
    test_data: Any,
    *,
    method: str = "sklearn",
    C: float = 1.0,
    max_iter: int = 1000,
    standardize: bool = True,
    seed: int = 0,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    transform: Callable[[Tensor], Tensor] | None = None,
    num_workers: int = 0,
    progress: ProgressCallback | None = None,
) -> ProbeResult:
    """Linear probe of a frozen encoder: extract features, fit, score, and prove it stayed frozen.

    ``train_data`` and ``test_data`` take any form :func:`extract_features` accepts; the other
    arguments are those of :func:`extract_features` and :func:`linear_probe`. The encoder's
    :func:`weights_fingerprint` is taken before and after; if it changed (a forward pass that
    updates weights or buffers, e.g. batch-norm statistics updated outside eval mode) this raises
    RuntimeError, because the probe would then not measure the frozen encoder. ``progress`` is
    called for both passes with a running total over the two sets.
    """
    before = weights_fingerprint(encoder)
    n_train = len(train_data[1]) if isinstance(train_data, tuple) else len(train_data)
    n_test = len(test_data[1]) if isinstance(test_data, tuple) else len(test_data)
    total = n_train + n_test

    def progress_for(offset: int) -> ProgressCallback | None:
        if progress is None:
            return None
        return lambda done, _total: progress(offset + done, total)

    common = dict(
        batch_size=batch_size, device=device, transform=transform, num_workers=num_workers
    )
    train_x, train_y = extract_features(encoder, train_data, progress=progress_for(0), **common)
    test_x, test_y = extract_features(encoder, test_data, progress=progress_for(n_train), **common)
    if weights_fingerprint(encoder) != before:
        raise RuntimeError(
            f"the weights or buffers of {type(encoder).__name__} changed while extracting "
            "features; a linear probe must see a frozen encoder (does forward_features update "
            "state, e.g. batch-norm running statistics or an EMA?)"
        )
    result = linear_probe(
        train_x,
        train_y,
        test_x,
        test_y,
        method=method,
        C=C,
        max_iter=max_iter,
        standardize=standardize,
        seed=seed,
        device=device,
    )
    return dataclasses.replace(
        result,
        protocol=result.protocol + "; encoder weights verified unchanged",
        encoder_unchanged=True,
    )


# --------------------------------------------------------------------------------------------
# Label efficiency
# --------------------------------------------------------------------------------------------


def subsample_per_class(
    labels: ArrayLike, n_per_class: int | str | None, *, seed: int = 0
) -> np.ndarray:
    """Indices (sorted, int64) of ``n_per_class`` items drawn without replacement from each class.

    ``n_per_class`` None or ``"all"`` returns every index. For a fixed seed the draws are nested:
    the 1-per-class subset is inside the 10-per-class subset, which is inside the 100 one (each
    class is shuffled once and the first ``n`` are taken), so a label-efficiency curve compares
    growing sets rather than unrelated ones.
    """
    y = _as_labels(labels, "labels", len(labels))
    if n_per_class is None or (isinstance(n_per_class, str) and n_per_class == "all"):
        return np.arange(y.shape[0], dtype=np.int64)
    if isinstance(n_per_class, str):
        raise ValueError(f"n_per_class must be a positive int, None or 'all'; got {n_per_class!r}")
    _check_positive_int(n_per_class, "n_per_class")
    rng = np.random.default_rng(seed)
    chosen = []
    for cls in np.unique(y):
        members = np.flatnonzero(y == cls)
        if members.size < n_per_class:
            raise ValueError(
                f"class {cls} has only {members.size} items, fewer than n_per_class={n_per_class}; "
                f"pass n_per_class <= {members.size} or 'all'"
            )
        chosen.append(rng.permutation(members)[:n_per_class])
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def label_efficiency(
    train_features: ArrayLike,
    train_labels: ArrayLike,
    test_features: ArrayLike,
    test_labels: ArrayLike,
    *,
    n_per_class: Sequence[int | str | None] = (1, 10, 100, None),
    seeds: Sequence[int] = (0, 1, 2),
    method: str = "sklearn",
    C: float = 1.0,
    max_iter: int = 1000,
    standardize: bool = True,
    device: str | torch.device | None = None,
) -> list[dict[str, Any]]:
    """Linear-probe accuracy with ``n`` labelled training items per class, for each ``n``.

    For each entry of ``n_per_class`` the probe is trained on :func:`subsample_per_class` draws,
    one per seed (the probe uses the same seed), and scored on the full test set. ``None`` or
    ``"all"`` uses every training item once, with the first seed. Rows, in the order given::

        {"n_per_class": 10 or "all", "n_train": 100, "mean_accuracy": 0.71,
         "std_accuracy": 0.02, "accuracies": [...], "seeds": [...]}

    ``std_accuracy`` is the sample standard deviation over seeds (0.0 for a single run).
    """
    if len(seeds) == 0:
        raise ValueError("seeds must name at least one seed")
    cpu = torch.device("cpu")
    train = _as_features(train_features, "train_features", cpu).numpy()
    test = _as_features(test_features, "test_features", cpu).numpy()
    y_train = _as_labels(train_labels, "train_labels", train.shape[0])
    y_test = _as_labels(test_labels, "test_labels", test.shape[0])
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    rows = []
    for n in n_per_class:
        use_all = n is None or n == "all"
        run_seeds = [seeds[0]] if use_all else list(seeds)
        accuracies = []
        n_train = 0
        for seed in run_seeds:
            idx = subsample_per_class(y_train, n, seed=seed)
            n_train = int(idx.size)
            result = linear_probe(
                train[idx],
                y_train[idx],
                test,
                y_test,
                method=method,
                C=C,
                max_iter=max_iter,
                standardize=standardize,
                seed=seed,
                num_classes=num_classes,
                device=device,
            )
            accuracies.append(result.accuracy)
        rows.append(
            {
                "n_per_class": "all" if use_all else int(n),
                "n_train": n_train,
                "mean_accuracy": float(np.mean(accuracies)),
                "std_accuracy": float(np.std(accuracies, ddof=1)) if len(accuracies) > 1 else 0.0,
                "accuracies": accuracies,
                "seeds": run_seeds,
            }
        )
    return rows


# --------------------------------------------------------------------------------------------
# Retrieval
# --------------------------------------------------------------------------------------------


def retrieve(
    query_features: ArrayLike,
    gallery_features: ArrayLike,
    *,
    k: int = 10,
    exclude_self: bool = False,
    batch_size: int = 512,
    device: str | torch.device | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` gallery items by cosine similarity: ``(indices (Q, k) int64, scores (Q, k))``.

    ``query_features: (Q, D)``, ``gallery_features: (N, D)``; scores are cosine similarities in
    ``[-1, 1]``, descending along each row. A query that is itself in the gallery comes back first
    with score 1. With ``exclude_self=True`` the query set *is* the gallery (``Q == N``, query
    ``i`` = gallery item ``i``) and item ``i`` is left out of its own results.
    """
    _check_positive_int(k, "k")
    _check_positive_int(batch_size, "batch_size")
    dev = _maths_device(device, query_features, gallery_features)
    query = _as_features(query_features, "query_features", dev)  # (Q, D)
    gallery = _as_features(gallery_features, "gallery_features", dev)  # (N, D)
    if query.shape[1] != gallery.shape[1]:
        raise ValueError(
            f"query_features have D={query.shape[1]} but gallery_features have D={gallery.shape[1]}"
        )
    if exclude_self and query.shape[0] != gallery.shape[0]:
        raise ValueError(
            "exclude_self=True means the queries are the gallery items themselves, so Q must "
            f"equal N; got Q={query.shape[0]}, N={gallery.shape[0]}"
        )
    available = gallery.shape[0] - int(exclude_self)
    if k > available:
        raise ValueError(
            f"k={k} exceeds the {available} gallery items that can be returned; pass k <= "
            f"{available}"
        )
    chunks = list(
        _cosine_topk_chunks(query, gallery, k=k, batch_size=batch_size, exclude_self=exclude_self)
    )
    scores = torch.cat([s for s, _ in chunks])  # (Q, k)
    indices = torch.cat([i for _, i in chunks])  # (Q, k)
    return indices.cpu().numpy().astype(np.int64), scores.cpu().numpy()


def patch_similarity(
    query: ArrayLike, match_patch_tokens: ArrayLike, grid: int | tuple[int, int]
) -> np.ndarray:
    """Cosine similarity of each patch of an image to a query, as a ``(h, w)`` heat map.

    Args:
        query: a vector ``(D,)`` (a CLS token, or one patch token the user picked) or tokens
            ``(L_q, D)``, which are averaged into one vector first (mean-token pooling).
        match_patch_tokens: the patch tokens ``(L, D)`` of the image to colour, without CLS or
            register tokens, in row-major patch order.
        grid: the patch grid ``(h, w)`` with ``h * w == L``, or ``h`` for a square grid.

    Returns float32 ``(h, w)`` with values in ``[-1, 1]``.
    """
    cpu = torch.device("cpu")
    if isinstance(query, Tensor):
        q = query.detach().float().cpu()
    else:
        q = torch.from_numpy(np.array(query, dtype=np.float32))
    if q.ndim == 2:
        q = q.mean(dim=0)  # (L_q, D) -> (D,)
    if q.ndim != 1:
        raise ValueError(f"query must be (D,) or (L_q, D); got shape {tuple(q.shape)}")
    tokens = _as_features(match_patch_tokens, "match_patch_tokens", cpu)  # (L, D)
    if tokens.shape[1] != q.shape[0]:
        raise ValueError(
            f"query has D={q.shape[0]} but match_patch_tokens have D={tokens.shape[1]}"
        )
    h, w = (grid, grid) if isinstance(grid, int | np.integer) else tuple(grid)
    if h * w != tokens.shape[0]:
        raise ValueError(
            f"grid {h}x{w} = {h * w} patches does not match {tokens.shape[0]} patch tokens; "
            "drop the CLS/register tokens or pass the right grid"
        )
    sim = F.normalize(tokens, dim=1) @ F.normalize(q, dim=0)  # (L,)
    return sim.reshape(h, w).numpy().astype(np.float32)  # (h, w) row-major patches
