"""The lesson's glossary: every term a page shows, defined once, and which page shows which.

:data:`TERMS` maps a term, as the pages write it, to a definition of a sentence or two (Markdown);
:data:`PAGE_TERMS` lists the terms of each page (its script's name under ``pages/``), in the
order a reader meets them. :func:`page_glossary` is what a page's glossary expander draws
(``app.glossary.glossary``); a test checks that every listed term is defined and every page has
a list.
"""

from __future__ import annotations

__all__ = ["PAGE_TERMS", "TERMS", "page_glossary"]

TERMS: dict[str, str] = {
    # --- shared ---------
    "self-supervised learning": "Pretraining an encoder on unlabelled images with a task made "
        "from the images themselves (match two views, rebuild hidden patches); labels are used "
        "only afterwards, to test or adapt the encoder.",
    "encoder / backbone": "The network that turns an image into a feature vector; it is what "
        "pretraining produces and what probes, kNN and retrieval use.",
    "embedding / feature": "The vector an encoder gives an image; images that look alike to "
        "the encoder get vectors that point the same way.",
    "random init": "The same architecture with random weights, never trained: the baseline "
        "that says how much of a score comes from the architecture alone.",
    "raw pixels": "The image's pixel values used directly as its feature vector (784 numbers "
        "for Fashion-MNIST): the baseline that involves no network at all.",
    "ViT": "Vision Transformer: cuts the image into patches, turns each into a token and mixes "
        "them with self-attention; the CLS token (or the mean token) is the image's feature.",
    "CLS token": "An extra token a ViT carries beside the patch tokens; its final value serves "
        "as the embedding of the whole image.",
    # --- augmentations ---------
    "augmentation": "A random change to an image (crop, flip, colour jitter, blur) that keeps "
        "what it shows; SSL methods train the encoder to ignore these changes.",
    "view": "One augmented copy of an image; SimCLR makes two views per image, DINO several.",
    "multi-crop": "DINO's views: two large global crops that the teacher sees and several small "
        "local crops that only the student sees.",
    # --- InfoNCE ---------
    "SimCLR": "Contrastive pretraining (Chen et al. 2020): pull the two views of an image "
        "together and push the other images of the batch away, with the InfoNCE loss.",
    "positive / negative": "For one view, its positive is the other view of the same image; "
        "its negatives are the 2N − 2 views of the other images in the batch.",
    "cosine similarity": "The dot product of two L2-normalised vectors: 1 when they point the "
        "same way, 0 when orthogonal, −1 when opposite.",
    "InfoNCE": "The contrastive loss: a softmax over one view's similarities to its positive and "
        "all negatives, divided by τ; the loss is −log of the weight on the positive.",
    "τ (temperature)": "Divides every similarity before InfoNCE's softmax. A small τ makes the "
        "softmax sharp (the hardest negatives dominate); a large τ makes it flat.",
    "log(2N−1)": "InfoNCE's value when the softmax is uniform over the positive and the 2N − 2 "
        "negatives: the loss of an encoder that cannot tell them apart.",
    "projection head": "A small MLP after the backbone; InfoNCE is computed on its output z, "
        "while the backbone's features h are what is kept and probed.",
    "batch size N": "Images per training step; each gives two views, so each anchor has "
        "2N − 2 negatives.",
    # --- DINO ---------
    "DINO": "Self-distillation without labels (Caron et al. 2021): a student network learns to "
        "match the output distribution of a teacher that is an average of past students.",
    "teacher / student": "Two copies of the network. The student is trained by gradient descent; "
        "the teacher is not trained, it follows the student as an EMA.",
    "EMA (teacher momentum)": "Exponential moving average: after each step the teacher's "
        "weights become m × teacher + (1 − m) × student, with m close to 1 (e.g. 0.996).",
    "centring": "Subtracting a running mean of the teacher's outputs (the centre buffer, itself "
        "an EMA with the centre momentum) before its softmax, so no output dimension can "
        "dominate for every image.",
    "sharpening": "A low teacher temperature (e.g. 0.04) makes the teacher's softmax peaked, so "
        "its target is confident rather than uniform.",
    "collapse": "A failure where every image gets the same output: one dimension takes all "
        "the mass, or the output is uniform; the loss is then trivially small or constant.",
    "entropy": "How spread a probability distribution is, in nats: 0 for one-hot, log K for "
        "uniform over K dimensions.",
    "KL divergence": "How far the student's distribution is from the teacher's; DINO's loss is "
        "the cross-entropy, which is this KL plus the teacher's entropy.",
    # --- MAE ---------
    "MAE": "Masked autoencoder (He et al. 2022): hide most patches, encode only the visible "
        "ones, and train a light decoder to rebuild the hidden pixels.",
    "patch": "A small square of the image (4 px on Fashion-MNIST, 8 px on photo crops); the "
        "unit that is masked and that a ViT turns into one token.",
    "mask ratio": "The share of patches hidden from the encoder; MAE uses 0.75.",
    "masked-patch MSE": "Mean squared pixel error (pixels in [0, 1]) over the hidden patches "
        "only: MAE's loss, and the score every fill on the page gets.",
    "interpolation": "A fill that learns nothing: each hidden pixel becomes the average of its "
        "neighbours, repeated until smooth (a harmonic fill).",
    "biharmonic inpainting": "scikit-image's classical fill: it also carries the gradients at "
        "a hole's edge into it. Nothing learned; the stronger baseline an MAE must beat.",
    "encoder speed-up": "All-patches encoder time divided by visible-patches time: what MAE "
        "saves by not feeding the masked patches to its encoder.",
    # --- evaluation ---------
    "linear probe": "Freeze the encoder and train only a linear classifier (logistic "
        "regression) on its features with labels: the standard test of what pretraining "
        "learned.",
    "fine-tuning": "Train the whole encoder (not only a linear head) on the labelled data, "
        "starting from the pretrained weights; compared with the same training from random "
        "weights ('from scratch').",
    "from scratch": "Supervised training of the architecture from random weights on the "
        "labelled images alone: no pretraining.",
    "kNN k=200 T=0.1": "Weighted k-nearest-neighbour classification on frozen features: the 200 "
        "most cosine-similar labelled images vote, each with weight exp(similarity / 0.1).",
    "label efficiency": "Accuracy against the number of labels per class: how few labels an "
        "encoder's features need.",
    "verdict": "A sentence generated from the measured numbers under a table: which row wins "
        "and by how much. It changes when the numbers change.",
    # --- embeddings, retrieval, attention ---------
    "UMAP / PCA / t-SNE": "Ways to draw high-dimensional features in 2-D: PCA is linear, t-SNE "
        "and UMAP keep near neighbours near; distances between far clusters mean little.",
    "retrieval": "Return the gallery images whose features are most cosine-similar to the "
        "query's; no labels are used.",
    "attention map": "How much the CLS token attends to each patch in the ViT's last block, per "
        "head or averaged.",
    "lift": "Attention share on the garment divided by the garment's share of the image's "
        "area: 1 means no preference, above 1 attention favours the object.",
    # --- watch it learn ---------
    "kNN k=20 T=0.1": "The live map's score: each of its images asks its 20 most cosine-similar "
        "images in a labelled bank (1,000 training images) for their classes, each vote weighted "
        "by exp(similarity / 0.1); the encoder never sees a label.",
    "silhouette": "How apart the classes sit on the 2-D map, from −1 to 1: near 1 each class "
        "forms its own tight group, near 0 they overlap.",
    "Procrustes alignment": "Turning (rotating, reflecting, scaling) each new map onto the "
        "previous one, so that points move between frames rather than jump; it changes no "
        "distance within a frame.",
    "DINOv2 / ViT-MAE": "Large published encoders, usable here only if their weights are in the "
        "local Hugging Face cache.",
}

# page script (pages/<name>.py) -> the terms it shows, in reading order
PAGE_TERMS: dict[str, tuple[str, ...]] = {
    "home": ("self-supervised learning", "SimCLR", "DINO", "MAE", "encoder / backbone",
             "linear probe"),
    "augmentations": ("augmentation", "view", "multi-crop", "SimCLR", "DINO", "MAE"),
    "infonce": ("InfoNCE", "positive / negative", "cosine similarity", "τ (temperature)",
                "log(2N−1)", "batch size N", "projection head", "encoder / backbone",
                "kNN k=200 T=0.1"),
    "dino_collapse": ("DINO", "teacher / student", "EMA (teacher momentum)", "centring",
                      "sharpening", "collapse", "entropy", "KL divergence", "kNN k=200 T=0.1"),
    "mae": ("MAE", "patch", "mask ratio", "masked-patch MSE", "interpolation",
            "biharmonic inpainting", "encoder speed-up", "ViT"),
    "embeddings": ("embedding / feature", "UMAP / PCA / t-SNE", "random init", "raw pixels",
                   "kNN k=200 T=0.1", "DINOv2 / ViT-MAE"),
    "retrieval": ("retrieval", "cosine similarity", "embedding / feature", "patch", "ViT"),
    "attention": ("ViT", "CLS token", "attention map", "lift", "DINO"),
    "linear_probe": ("linear probe", "fine-tuning", "from scratch", "label efficiency",
                     "kNN k=200 T=0.1", "random init", "raw pixels", "MAE", "verdict"),
    "live_learning": ("SimCLR", "τ (temperature)", "batch size N", "UMAP / PCA / t-SNE",
                      "Procrustes alignment", "kNN k=20 T=0.1", "silhouette", "MAE",
                      "mask ratio", "masked-patch MSE", "biharmonic inpainting"),
    "picker": ("self-supervised learning", "SimCLR", "DINO", "MAE", "DINOv2 / ViT-MAE",
               "linear probe", "fine-tuning"),
}


def page_glossary(page: str) -> list[tuple[str, str]]:
    """``(term, definition)`` for each term page ``page`` shows; KeyError names a page without a
    list (every page under ``pages/`` has one)."""
    try:
        terms = PAGE_TERMS[page]
    except KeyError:
        raise KeyError(f"no glossary for page {page!r}; pages with one: {sorted(PAGE_TERMS)}"
                       ) from None
    return [(term, TERMS[term]) for term in terms]
