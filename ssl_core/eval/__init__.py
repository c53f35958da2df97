"""Evaluation of frozen encoders: features, kNN, linear probe, label efficiency, retrieval, maps.

One module per question, all behind the encoder contract ``forward_features(x) -> (B, D)``:

- :mod:`~ssl_core.eval.features`: :func:`extract_features` runs an encoder over a dataset;
  :class:`RawPixels` is the baseline "encoder";
- :mod:`~ssl_core.eval.knn`: weighted kNN (:func:`knn_predict`, :func:`knn_accuracy`,
  :func:`loo_knn_accuracy`);
- :mod:`~ssl_core.eval.probe`: the linear probe (:func:`linear_probe`, :func:`probe_encoder`);
- :mod:`~ssl_core.eval.label_efficiency`: accuracy against labels per class
  (:func:`label_efficiency`, :func:`budget_probe`, :func:`subsample_per_class`);
- :mod:`~ssl_core.eval.retrieval`: cosine top-k (:func:`retrieve`) and patch heat maps
  (:func:`patch_similarity`);
- :mod:`~ssl_core.eval.projection`: UMAP / PCA / t-SNE of features (:func:`project`);
- :mod:`~ssl_core.eval.attention`: a ViT's CLS attention maps and DINO's mass threshold;
- :mod:`~ssl_core.eval.report`: the probe report of a checkpoint (``python -m ssl_core.probe``).

The maths functions take numpy arrays or tensors, run in torch (on CUDA when available unless a
``device`` is given) and return numpy; accuracies are fractions in [0, 1].
"""

from ssl_core.eval.features import RawPixels, extract_features, weights_fingerprint
from ssl_core.eval.finetune import FINETUNE_CONFIG, finetune_comparison
from ssl_core.eval.knn import knn_accuracy, knn_predict, loo_knn_accuracy
from ssl_core.eval.label_efficiency import budget_probe, label_efficiency, subsample_per_class
from ssl_core.eval.probe import PROBE_METHODS, ProbeResult, linear_probe, probe_encoder
from ssl_core.eval.retrieval import patch_similarity, retrieve

__all__ = [
    "FINETUNE_CONFIG",
    "PROBE_METHODS",
    "ProbeResult",
    "RawPixels",
    "budget_probe",
    "extract_features",
    "finetune_comparison",
    "knn_accuracy",
    "knn_predict",
    "label_efficiency",
    "linear_probe",
    "loo_knn_accuracy",
    "patch_similarity",
    "probe_encoder",
    "retrieve",
    "subsample_per_class",
    "weights_fingerprint",
]
