"""The linear probe: multinomial logistic regression on frozen features, fitted and scored.

Both solvers minimise the same objective, ``mean softmax cross-entropy + ||W||^2 / (2 C N)``
(the bias is not penalised): ``"sklearn"`` with scikit-learn's lbfgs ``LogisticRegression``,
``"torch"`` with full-batch L-BFGS on a device (for large N x D on a GPU). :func:`probe_encoder`
extracts the features itself and verifies that the encoder's weights did not change.
Accuracies are fractions in [0, 1].
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_core.eval.arrays import (
    ArrayLike,
    as_features,
    as_labels,
    check_positive_int,
    maths_device,
)
from ssl_core.eval.features import ProgressCallback, extract_features, weights_fingerprint

__all__ = ["PROBE_METHODS", "ProbeResult", "linear_probe", "probe_encoder"]


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
    check_positive_int(max_iter, "max_iter")
    dev = maths_device(device, train_features, test_features)
    cpu = torch.device("cpu")
    train = as_features(train_features, "train_features", cpu).numpy().astype(np.float64)
    test = as_features(test_features, "test_features", cpu).numpy().astype(np.float64)
    y_train = as_labels(train_labels, "train_labels", train.shape[0])
    y_test = as_labels(test_labels, "test_labels", test.shape[0])
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


def probe_encoder(encoder: nn.Module, train_data: Any, test_data: Any, *, method: str = "sklearn",
                  C: float = 1.0, max_iter: int = 1000, standardize: bool = True, seed: int = 0,
                  batch_size: int = 256, device: str | torch.device | None = None,
                  transform: Callable[[Tensor], Tensor] | None = None, num_workers: int = 0,
                  progress: ProgressCallback | None = None) -> ProbeResult:
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
    result = linear_probe(train_x, train_y, test_x, test_y, method=method, C=C, max_iter=max_iter,
                          standardize=standardize, seed=seed, device=device)
    return dataclasses.replace(
        result,
        protocol=result.protocol + "; encoder weights verified unchanged",
        encoder_unchanged=True,
    )


