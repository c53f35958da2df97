"""InfoNCE (NT-Xent), the contrastive loss of SimCLR, and its per-batch diagnostics.

Given two views of the same N images embedded as ``z1, z2: (N, D)``, every one of the 2N
embeddings is an *anchor*; its *positive* is the other view of the same image and its 2N - 2
*negatives* are the views of the other images. With cosine similarities ``s`` and temperature
``tau`` the loss of anchor ``i`` with positive ``p(i)`` is

    l_i = -log( exp(s_ip / tau) / sum_{k != i} exp(s_ik / tau) )

and ``info_nce`` returns the mean of ``l_i`` over the 2N anchors (Chen et al. 2020, SimCLR, eq. 1).
The anchor itself is excluded from the denominator; the positive is included.

Why random pairs do not give log(2N - 1) at ordinary temperatures. If the positive is no more
similar than the negatives, each row of the softmax is close to uniform over its 2N - 1
candidates and the loss is close to log(2N - 1) (3.43 for N = 16). That is only the *limit* of
large tau or large D. The cosine of two independent random directions in D dimensions has mean 0
but spread 1/sqrt(D), and dividing by tau stretches that spread to 1/(tau sqrt(D)). The
log-sum-exp in the denominator is dominated by the few candidates that happen to be most similar,
so it grows with the spread while the positive's term stays at 0 on average. Two applications of
Jensen's inequality (and the fact that a coordinate of a random unit vector is sub-Gaussian with
variance proxy 1/D) bound the expected loss exactly:

    log(2N - 1)  <=  E[loss of random pairs]  <=  log(2N - 1) + 1 / (2 D tau^2).

At N = 16, D = 32, tau = 0.1 the bounds are 3.43 and 5.00 (the measured mean, printed by
``scripts/sanity_values.py``, sits near the upper one); at N = 16, D = 4096, tau = 10 the upper
bound is 3.43 + 1e-6. So log(2N - 1) is the chance level of a *uniform* softmax, not the loss a
freshly initialised network should show; a cold temperature makes random embeddings look worse
than chance.

Contents: ``info_nce`` (the loss) and ``info_nce_diagnostics`` (cosine matrix, softmax
weights, positive rank, top-1 retrieval, alignment and uniformity). Toy embeddings, the
temperature sweep and the random-pair bounds are in :mod:`ssl_core.losses.infonce_sweep`; run
``python3 scripts/sanity_values.py`` to print the sanity values.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "MIN_TAU",
    "InfoNCEDiagnostics",
    "check_pair",
    "check_tau",
    "exclude_self",
    "info_nce",
    "info_nce_diagnostics",
    "similarity_and_targets",
    "uniform_softmax_loss",
]

# Wang & Isola (2020), "Understanding Contrastive Representation Learning through Alignment and
# Uniformity on the Hypersphere": their defaults, alpha = 2 and t = 2.
_ALIGN_ALPHA = 2.0
_UNIFORM_T = 2.0

# Smallest accepted temperature. Below about 1e-38 the float32 logits s / tau overflow and the loss
# is NaN; 1e-6 keeps loss and gradients finite with room to spare.
MIN_TAU = 1e-6


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def uniform_softmax_loss(n: int) -> float:
    """log(2N - 1): the InfoNCE loss of a softmax uniform over an anchor's 2N - 1 candidates, the
    "chance level" usually quoted (see the module docstring for why random pairs sit above it)."""
    return math.log(2 * n - 1)


def check_tau(tau: float) -> float:
    """Return ``tau`` as a float, or raise ValueError unless it is a finite number >= MIN_TAU."""
    if isinstance(tau, bool) or not isinstance(tau, numbers.Real):
        raise ValueError(
            f"tau must be a positive float (typical values 0.05 to 0.5); got {tau!r} of type "
            f"{type(tau).__name__}"
        )
    tau = float(tau)
    if not math.isfinite(tau) or tau <= 0.0:
        raise ValueError(
            f"tau must be a finite temperature > 0 (it divides the similarities; typical values "
            f"0.05 to 0.5); got {tau}"
        )
    if tau < MIN_TAU:
        raise ValueError(
            f"tau={tau:g} is too small: the logits s / tau would overflow and the loss become "
            f"NaN; use tau >= {MIN_TAU:g} (typical values 0.05 to 0.5)"
        )
    return tau


def check_pair(z1: Tensor, z2: Tensor) -> None:
    """Raise ValueError unless z1 and z2 are matching, non-empty (N, D) floating-point batches."""
    for name, z in (("z1", z1), ("z2", z2)):
        if not isinstance(z, Tensor):
            raise ValueError(
                f"{name} must be a torch.Tensor of shape (N, D); got {type(z).__name__}"
            )
        if z.ndim != 2:
            raise ValueError(
                f"{name} must be 2-D (N, D): one embedding per row; got shape {tuple(z.shape)}. "
                "Flatten or pool the features to (N, D) first"
            )
        if not z.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor; got dtype {z.dtype}")
    if z1.shape != z2.shape:
        raise ValueError(
            "z1 and z2 must have the same shape (row i of z2 is the second view of the image in "
            f"row i of z1); got {tuple(z1.shape)} and {tuple(z2.shape)}"
        )
    n, d = z1.shape
    if n == 0:
        raise ValueError(f"need at least one pair, N >= 1; got an empty batch of shape {(n, d)}")
    if d == 0:
        raise ValueError(f"embedding dimension D must be >= 1; got shape {(n, d)}")


# --------------------------------------------------------------------------------------------
# The loss
# --------------------------------------------------------------------------------------------


def similarity_and_targets(z1: Tensor, z2: Tensor) -> tuple[Tensor, Tensor]:
    """Cosine similarity matrix of the 2N embeddings and each row's positive index.

    Returns ``sim: (2N, 2N)`` (rows and columns ordered z1 then z2) and ``targets: (2N,)`` with
    ``targets[i] = (i + N) % 2N``, the other view of the same image.
    """
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)  # (2N, D), unit rows
    sim = z @ z.T  # (2N, 2N) cosine similarities
    targets = (torch.arange(2 * n, device=z.device) + n) % (2 * n)  # (2N,)
    return sim, targets


def exclude_self(logits: Tensor) -> Tensor:
    """Set the diagonal of ``logits: (2N, 2N)`` (each anchor against itself) to -inf, in place.

    No row is all -inf: every row keeps at least its positive, so the softmax, the cross-entropy
    and their gradients stay finite even for N = 1.
    """
    return logits.fill_diagonal_(float("-inf"))


def info_nce(z1: Tensor, z2: Tensor, tau: float = 0.1) -> Tensor:
    """InfoNCE / NT-Xent loss of two views, the mean over all 2N anchors.

    Args:
        z1: ``(N, D)`` embeddings of the first view. Any scale: rows are L2-normalised here.
        z2: ``(N, D)`` embeddings of the second view; row i is the same image as row i of z1.
        tau: temperature > 0. Lower values sharpen the softmax onto the hardest negatives
            (SimCLR used 0.1 to 0.5). Loss and gradients are finite for tau in [1e-3, 10].

    Returns:
        A scalar tensor: cross-entropy of each row of ``cat([z1, z2]) @ cat([z1, z2]).T / tau``
        (self-similarity excluded) against the other view of the same image, averaged over the
        2N rows. With N = 1 each anchor's only candidate is its positive, so the loss is exactly
        0 (and its gradient is 0): one pair carries no contrastive signal.

    Raises:
        ValueError: if tau is not a finite number >= ``MIN_TAU`` (1e-6), or z1/z2 are not
            matching non-empty 2-D floating-point tensors.
    """
    tau = check_tau(tau)
    check_pair(z1, z2)
    sim, targets = similarity_and_targets(z1, z2)  # (2N, 2N), (2N,)
    # In place, so only one (2N, 2N) matrix is alive before the softmax (256 MiB at N = 4096).
    # Autograd allows it: the matmul's backward needs z, not its output.
    logits = exclude_self(sim.div_(tau))  # (2N, 2N)
    return F.cross_entropy(logits, targets)


# --------------------------------------------------------------------------------------------
# Diagnostics
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class InfoNCEDiagnostics:
    """What one InfoNCE batch looks like from the inside. Tensors are detached, on the input device.

    Rows and columns are ordered ``[z1_0 .. z1_{N-1}, z2_0 .. z2_{N-1}]``; anchor i's positive is
    ``(i + N) % 2N``.
    """

    n: int  # number of pairs N
    tau: float
    loss: float  # equal to info_nce(z1, z2, tau)
    reference_loss: float  # log(2N - 1): the loss of a uniform softmax (see the module docstring)
    similarity: Tensor  # (2N, 2N) cosine similarities, diagonal included (= 1)
    weights: Tensor  # (2N, 2N) softmax over each anchor's 2N - 1 candidates; diagonal exactly 0
    positive_similarity: Tensor  # (2N,) cosine between each anchor and its positive
    positive_weight: Tensor  # (2N,) softmax weight on the positive; loss = mean(-log of this)
    positive_rank: Tensor  # (2N,) int64: candidates strictly more similar than the positive
    hardest_negative_share: Tensor  # (2N,) largest negative weight / total negative weight
    top1_accuracy: float  # fraction of anchors with positive_rank == 0
    alignment: float  # E ||f(x) - f(y)||^2 over the N positive pairs (0 when z1 == z2)
    uniformity: float  # mean over the two views of log E exp(-2 ||f(x) - f(y)||^2), x != y
    anchor: int | None = None  # the anchor asked about, if any
    anchor_weights: Tensor | None = None  # (2N,) weights[anchor]
    anchor_positive: int | None = None  # column of the anchor's positive
    anchor_hardest_negative: int | None = None  # column of the anchor's most similar negative

    def to_dict(self, *, matrices: bool = True) -> dict[str, Any]:
        """Plain Python values for JSON: tensors become (nested) lists of numbers.

        ``matrices=False`` drops the two (2N, 2N) matrices, which dominate the size (2 x 1M
        numbers at N = 512).
        """
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if matrices is False and name in ("similarity", "weights"):
                continue
            out[name] = value.tolist() if isinstance(value, Tensor) else value
        return out


def info_nce_diagnostics(
    z1: Tensor, z2: Tensor, tau: float = 0.1, *, anchor: int | None = None
) -> InfoNCEDiagnostics:
    """What the loss does with one batch, per anchor and overall, computed without gradients.

    Args:
        z1, z2: ``(N, D)`` embeddings of the two views (normalised here), N >= 2.
        tau: temperature > 0, as in ``info_nce``.
        anchor: optional row in ``[0, 2N)`` to highlight; fills the ``anchor_*`` fields.

    Returns:
        ``InfoNCEDiagnostics`` (see its field comments for shapes). Definitions:

        - ``positive_rank[i]``: number of candidates k (k != i) with ``s_ik > s_ip`` (ties count in
          the positive's favour); 0 means the positive is the best match.
        - ``hardest_negative_share[i]``: ``max_k w_ik / sum_k w_ik`` over the 2N - 2 negatives k.
          It can only grow as tau falls: lower temperature concentrates weight on the hardest
          negative.
        - ``alignment`` and ``uniformity`` follow Wang & Isola (2020)'s reference code exactly:
          ``align = (x - y).norm(dim=1).pow(2).mean()`` over the N positive pairs and
          ``uniform = (lunif(z1) + lunif(z2)) / 2`` with
          ``lunif(x) = torch.pdist(x).pow(2).mul(-2).exp().mean().log()``, i.e. each view's
          N(N - 1)/2 distinct within-view pairs, averaged over the two views. Pairs across views
          are not used. Both on L2-normalised embeddings; squared distances come from the cosine
          matrix as ``2 - 2 s``.

    Raises:
        ValueError: as ``info_nce``; also for N < 2 (no negatives, so the negative share and the
            uniformity are undefined; ``info_nce`` gives the N = 1 loss, exactly 0) and for an
            anchor outside ``[0, 2N)``.
    """
    tau = check_tau(tau)
    check_pair(z1, z2)
    n = z1.shape[0]
    if n < 2:
        raise ValueError(
            "info_nce_diagnostics needs N >= 2 pairs so that each anchor has negatives (the "
            f"negative share and the uniformity are undefined otherwise); got N = {n}. Use "
            "info_nce for the N = 1 loss, which is exactly 0"
        )
    if anchor is not None and (
        isinstance(anchor, bool) or not isinstance(anchor, int) or not 0 <= anchor < 2 * n
    ):
        raise ValueError(
            f"anchor must be an int row index in [0, 2N) = [0, {2 * n}); got {anchor!r}"
        )

    with torch.no_grad():
        z1, z2 = z1.detach(), z2.detach()
        sim, targets = similarity_and_targets(z1, z2)  # (2N, 2N), (2N,)
        rows = torch.arange(2 * n, device=sim.device)
        logits = exclude_self(sim / tau)  # (2N, 2N), a copy: `sim` is returned
        log_weights = logits.log_softmax(dim=1)  # (2N, 2N), what F.cross_entropy computes
        weights = log_weights.exp()  # (2N, 2N), diagonal exactly 0
        loss = -log_weights[rows, targets].mean().item()  # == F.cross_entropy(logits, targets)
        positive_similarity = sim[rows, targets]  # (2N,)
        positive_weight = weights[rows, targets]  # (2N,)
        # Count every column that beats the positive, then take back the anchor's own column
        # where it was counted (it is not a candidate).
        beats_positive = (sim > positive_similarity[:, None]).sum(dim=1)  # (2N,)
        positive_rank = beats_positive - (sim.diagonal() > positive_similarity).long()  # (2N,)

        # Negatives only: drop the positive too (in place; `logits` is not used again). The share
        # is taken in log space, exp(max - logsumexp), so it stays accurate when the positive
        # holds nearly all the weight (cold tau, aligned pairs), where 1 - positive_weight would
        # cancel to 0.
        logits[rows, targets] = float("-inf")  # (2N, 2N): the 2N - 2 negatives remain
        hardest_negative = logits.max(dim=1)  # values, indices: (2N,) each
        hardest_negative_share = (hardest_negative.values - logits.logsumexp(dim=1)).exp()

        z1n, z2n = F.normalize(z1, dim=1), F.normalize(z2, dim=1)  # (N, D) each
        alignment = (z1n - z2n).norm(dim=1).pow(_ALIGN_ALPHA).mean().item()
        uniformity = 0.5 * (
            _log_mean_gaussian_potential(sim[:n, :n]) + _log_mean_gaussian_potential(sim[n:, n:])
        )

        anchor_fields: dict[str, Any] = {}
        if anchor is not None:
            anchor_fields = {
                "anchor": anchor,
                "anchor_weights": weights[anchor],
                "anchor_positive": int(targets[anchor]),
                "anchor_hardest_negative": int(hardest_negative.indices[anchor]),
            }

    return InfoNCEDiagnostics(
        n=n,
        tau=tau,
        loss=loss,
        reference_loss=uniform_softmax_loss(n),
        similarity=sim,
        weights=weights,
        positive_similarity=positive_similarity,
        positive_weight=positive_weight,
        positive_rank=positive_rank,
        hardest_negative_share=hardest_negative_share,
        top1_accuracy=(positive_rank == 0).double().mean().item(),
        alignment=alignment,
        uniformity=uniformity,
        **anchor_fields,
    )


def _log_mean_gaussian_potential(block: Tensor) -> float:
    """``log mean_{a < b} exp(-t ||x_a - x_b||^2)`` from one view's (N, N) cosine block.

    For unit vectors ``||x_a - x_b||^2 = 2 - 2 s_ab``. The block is symmetric, so the mean over
    the N(N - 1) off-diagonal entries equals the mean over the N(N - 1)/2 pairs ``a < b`` that
    ``torch.pdist`` lists.
    """
    m = block.shape[0]
    # exp(-t (2 - 2 s)) = exp(2 t s - 2 t): (N, N), built in place on one temporary.
    potential = (block * (2.0 * _UNIFORM_T)).sub_(2.0 * _UNIFORM_T).exp_()
    off_diagonal_sum = potential.sum() - potential.diagonal().sum()
    return math.log(off_diagonal_sum.item() / (m * (m - 1)))
