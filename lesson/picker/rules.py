"""The rule book: each scoring rule with the published number it cites, the hard constraints,
and the whole book as Markdown (the prompt deliverable embeds it verbatim).

One concept that reads best whole: :data:`RULES` is data, a list a reader scans rule by rule,
with each rule's condition, its points per option and the sentence that justifies them; split
across files it would no longer read as one book.
"""

from __future__ import annotations

from lesson.picker.budget import BUDGET_RULES, THROUGHPUT
from lesson.picker.inputs import GPUS_FOR_MANY, METHODS, Effect, PickerInputs, Rule

__all__ = ["EXCLUSION_TEXT", "RULES", "exclusions", "rules_markdown"]

_MAE_GAP = "75.8 % linear vs 85.9 % fine-tuned for ViT-L/16 (He et al. 2022)"

RULES: tuple[Rule, ...] = (
    Rule(
        "checkpoint_natural_images",
        "a public checkpoint is allowed and the images are natural photos",
        (
            Effect("dinov2_linear", 4.0,
                   "DINOv2's frozen features reach 86.5 % ImageNet linear accuracy (ViT-g/14; "
                   "81.1 % for the 21M-parameter ViT-S/14) after pretraining on 142M curated "
                   "images (Oquab et al. 2023): no pretraining run on a project budget gets "
                   "close on natural photos."),
            Effect("finetune", 1.0,
                   "fine-tuning can start from DINOv2's weights (already 86.5 % linear) instead "
                   "of from scratch."),
        ),
        lambda i: i.pretrained_allowed and i.image_domain == "natural",
    ),
    Rule(
        "checkpoint_other_domain",
        "a public checkpoint is allowed but the images are not natural photos",
        (
            Effect("dinov2_linear", 1.5,
                   "still the cheapest strong baseline (one forward pass per image; 81.1 % on "
                   "ImageNet for ViT-S/14), but DINOv2 saw 142M natural photos: expect less on "
                   "medical, satellite or grayscale images, and measure it before pretraining."),
            Effect("finetune", 1.5,
                   "fine-tuning adapts a public checkpoint to a shifted domain; DINOv2's model "
                   "card reports +2 % from fine-tuning even on ImageNet itself."),
        ),
        lambda i: i.pretrained_allowed and i.image_domain == "other",
    ),
    Rule(
        "in_domain_pretraining",
        "the images are not natural photos and there are >= 100,000 of them",
        (
            Effect("mae", 1.0,
                   "with >= 100,000 images of a domain that photo-trained models never saw, "
                   "pretraining on your own images pays off; MAE learns from pixels alone, no "
                   "photo-specific augmentation (75 % of patches masked)."),
            Effect("dino", 1.0,
                   "with >= 100,000 in-domain images, DINO pretraining on them learns the "
                   "domain's own features (check that its 2 + 8 crops suit your images)."),
            Effect("simclr", 0.5,
                   "with >= 100,000 in-domain images, contrastive pretraining on them helps, "
                   "if its augmentations (colour jitter, 8-100 % crops) fit the domain."),
            Effect("moco", 0.5,
                   "with >= 100,000 in-domain images, contrastive pretraining on them helps, "
                   "if its augmentations fit the domain."),
        ),
        lambda i: i.image_domain == "other" and i.n_total >= 100_000,
    ),
    Rule(
        "task_classification",
        "the task is image classification",
        (
            Effect("dinov2_linear", 1.0,
                   "a linear head on frozen features is exactly DINOv2's published protocol "
                   "(86.5 % ImageNet linear)."),
            Effect("dino", 1.0,
                   "DINO's features are linearly separable and cluster by class: 77.0 % linear "
                   "and 74.5 % k-NN for ViT-S/16 (Caron et al. 2021, Table 2)."),
            Effect("mae", -1.0,
                   f"MAE features need fine-tuning to classify well: {_MAE_GAP}."),
        ),
        lambda i: i.task == "classification",
    ),
    Rule(
        "task_retrieval",
        "the task is retrieval (nearest neighbours on embeddings)",
        (
            Effect("dinov2_linear", 1.5,
                   "retrieval is nearest neighbours on frozen features: DINOv2 ViT-g/14 reaches "
                   "83.5 % ImageNet k-NN accuracy, close to its 86.5 % linear."),
            Effect("dino", 1.5,
                   "DINO ViT-S/16's k-NN accuracy (74.5 %) is within 2.5 points of its linear "
                   "probe (77.0 %): its embedding space is already organised by similarity."),
            Effect("simclr", 0.5,
                   "InfoNCE trains cosine similarity between 2 views directly, which is what "
                   "retrieval ranks by (71.7 % linear, ResNet-50)."),
            Effect("moco", 0.5,
                   "InfoNCE trains cosine similarity directly, which is what retrieval ranks by "
                   "(MoCo v2 71.1 % linear, ResNet-50)."),
            Effect("mae", -2.0,
                   f"nearest neighbours on frozen MAE features are weak: {_MAE_GAP}."),
            Effect("finetune", -1.0,
                   "retrieval rarely has class labels to fine-tune on, and a head trained on C "
                   "classes keeps about C - 1 useful directions, little of what separates 2 "
                   "images of one class."),
        ),
        lambda i: i.task == "retrieval",
    ),
    Rule(
        "task_dense",
        "the task is dense: detection or segmentation",
        (
            Effect("mae", 2.0,
                   "MAE transfers best to detection and segmentation once fine-tuned: with "
                   "ViT-L it beats supervised pre-training on COCO and ADE20K (He et al. 2022, "
                   "Tables 4-5)."),
            Effect("finetune", 1.5,
                   "dense heads are trained end to end on masks or boxes anyway: every "
                   "detection and segmentation transfer result in He et al. 2022 (Tables 4-5) "
                   "fine-tunes the backbone."),
            Effect("dinov2_linear", 1.0,
                   "DINOv2's frozen patch tokens carry linear segmentation and depth heads "
                   "(official linear heads for ADE20K, VOC 2012, NYUd and KITTI)."),
            Effect("moco", 0.5,
                   "MoCo's features transfer to detection: it beat supervised ImageNet "
                   "pre-training on 7 detection/segmentation tasks (He et al. 2020)."),
            Effect("simclr", -1.5,
                   "SimCLR's loss sees 1 pooled vector per view, so nothing asks its spatial "
                   "features to be precise."),
        ),
        lambda i: i.task == "dense",
    ),
    Rule(
        "task_correspondence",
        "the task is dense correspondence (matching parts across images, video propagation)",
        (
            Effect("dinov2_linear", 2.0,
                   "DINOv2's patch features match object parts across images and poses with no "
                   "training at all (Oquab et al. 2023, Fig. 1)."),
            Effect("dino", 2.0,
                   "DINO's ViT patch features segment objects without labels and propagate "
                   "video masks by nearest neighbours (DAVIS 2017; Caron et al. 2021)."),
            Effect("mae", -1.0,
                   f"frozen MAE features are weak ({_MAE_GAP}) and correspondence has no labels "
                   "to fine-tune with."),
            Effect("moco", -1.5,
                   "a contrastive loss on 1 pooled vector per view gives patch-level matching "
                   "no direct signal."),
            Effect("simclr", -2.0,
                   "SimCLR compares 1 pooled vector per view: patch-level matching gets no "
                   "direct signal."),
            Effect("finetune", -3.0,
                   "correspondence has no class labels; fine-tuning for 1 classification task "
                   "washes out patch-level detail."),
        ),
        lambda i: i.task == "correspondence",
    ),
    Rule(
        "cpu_only",
        "the compute is a CPU",
        (
            Effect("dinov2_linear", 1.5,
                   "off-the-shelf features cost 1 forward pass per image (no backward pass, no "
                   "100s of epochs); DINOv2 ViT-S/14 has 21M parameters, fine on a CPU."),
            Effect("mae", 1.0,
                   "MAE's encoder sees only the 25 % visible patches (mask ratio 0.75), which "
                   "made pretraining >= 3x faster in He et al. 2022; on ssl_core's tiny CPU ViTs "
                   "the decoder is a bigger share, so measure with "
                   "benchmarks/bench_train_throughput.py."),
            Effect("dino", -1.5,
                   "DINO's multi-crop encodes 2 global + 8 local crops per image (10 views vs "
                   "SimCLR's 2), the slowest per image on a CPU."),
            Effect("finetune", -1.0,
                   "fine-tuning back-propagates through the whole network at every step, about "
                   "3x the cost of the 1 forward pass a linear probe needs."),
        ),
        lambda i: i.compute == "cpu",
    ),
    Rule(
        "one_gpu",
        "the compute is one GPU",
        (
            Effect("moco", 1.5,
                   "MoCo keeps 65,536 negatives in a queue, decoupled from the batch: MoCo v2 "
                   "reached 71.1 % with batch 256 (Chen et al. 2020, Table 2), the contrastive "
                   "method for one GPU."),
            Effect("mae", 0.5,
                   "MAE encodes 25 % of the patches, >= 3x faster per epoch (He et al. 2022), so "
                   "one GPU goes further."),
            Effect("dino", 0.5,
                   "DINO needs no negatives and trains with small batches (the official 8-GPU "
                   "ViT-S/16 run: 100 epochs in 1.75 days, 73.8 % linear)."),
            Effect("simclr", -1.5,
                   "SimCLR's published results use batch 4096 (69.3 % v1, 71.7 % v2); one GPU "
                   "fits about 256-512 images of 224 px, 8-16x fewer negatives per step (a "
                   "retuned temperature and 3-layer head close part of the gap)."),
        ),
        lambda i: i.compute == "one_gpu",
    ),
    Rule(
        "many_gpus",
        f"the compute is many GPUs (a node of {GPUS_FOR_MANY})",
        (
            Effect("mae", 1.0,
                   "MAE scales with model size: fine-tuned 83.6 % (ViT-B), 85.9 % (ViT-L), "
                   "86.9 % (ViT-H) on ImageNet (He et al. 2022)."),
            Effect("dino", 1.0,
                   "DINO's recipes are written for 8-16 GPUs (ViT-S/16: 77.0 % linear)."),
            Effect("simclr", 0.5,
                   f"{GPUS_FOR_MANY} GPUs x 512 images reach SimCLR's 4096 batch; ssl_core's "
                   "SimCLR gathers the negatives across GPUs."),
        ),
        lambda i: i.compute == "many_gpus",
    ),
    Rule(
        "few_images",
        "fewer than 10,000 images in all",
        (
            Effect("dinov2_linear", 1.0,
                   "with < 10,000 images, a model pretrained on 142M images has seen far more "
                   "than a pretraining run on your data can teach."),
            Effect("simclr", 0.5,
                   "with < 10,000 images, SimCLR with strong augmentation on a small CNN is the "
                   "safest from-scratch choice (its 69.3-71.7 % are ResNet-50 numbers)."),
            Effect("dino", -0.5,
                   "DINO's published ViTs trained on 1.28M images; with < 10,000 use a small "
                   "backbone and strong augmentation."),
            Effect("mae", -2.0,
                   "MAE's results come from 1.28M images and 800-1600 epochs of large ViTs; "
                   "with < 10,000 images a ViT without convolutional priors overfits."),
        ),
        lambda i: i.n_total < 10_000,
    ),
    Rule(
        "many_images",
        "1,000,000 images or more",
        (
            Effect("mae", 1.0,
                   "MAE was built for >= 1M images and scales with data and model (ViT-H "
                   "86.9 % fine-tuned)."),
            Effect("dino", 1.0,
                   "DINO reaches 77.0 % (ViT-S/16) to 80.1 % (ViT-B/8) linear on 1.28M images "
                   "and improves with scale."),
            Effect("simclr", -0.5,
                   "at >= 1M images SimCLR needs its 4096 batch and 800+ epochs for 69.3-71.7 %; "
                   "DINO and MAE get more per GPU-hour."),
        ),
        lambda i: i.n_total >= 1_000_000,
    ),
    Rule(
        "few_labels_from_scratch",
        "fewer than 1,000 labels (or < 1 % of the images) and no public checkpoint",
        (
            Effect("finetune", -3.0,
                   "supervised training from scratch on < 1,000 labels overfits: this is the "
                   "case self-supervision exists for (SimCLR v2 ResNet-50 with 1 % of ImageNet's "
                   "labels: 57.9 % after SSL + fine-tuning, Chen et al. 2020b, Table 1)."),
        ),
        lambda i: (not i.pretrained_allowed and i.n_labelled > 0
                   and (i.n_labelled < 1_000 or i.labelled_fraction < 0.01)),
    ),
    Rule(
        "few_labels_with_checkpoint",
        "fewer than 1,000 labels (or < 1 % of the images) and a public checkpoint",
        (
            Effect("finetune", -1.0,
                   "with < 1,000 labels, fine-tuning all weights gains little over a linear "
                   "head and risks overfitting; DINOv2's model card measured only +2 % from "
                   "fine-tuning with all 1.28M ImageNet labels."),
        ),
        lambda i: (i.pretrained_allowed and i.n_labelled > 0
                   and (i.n_labelled < 1_000 or i.labelled_fraction < 0.01)),
    ),
    Rule(
        "mostly_labelled",
        "at least half of the images are labelled and there are >= 10,000 labels",
        (
            Effect("finetune", 2.5,
                   "most images are labelled, so supervised training uses all of that signal: "
                   "with 100 % of ImageNet's labels, supervised ResNet-50 (76.6 %) matches SimCLR "
                   "v2 pretraining + fine-tuning (76.3 %) (Chen et al. 2020b, Table 1)."),
        ),
        lambda i: i.labelled_fraction >= 0.5 and i.n_labelled >= 10_000,
    ),
    Rule(
        "many_labels",
        "at least half of the images are labelled and there are >= 100,000 labels",
        (
            Effect("finetune", 1.0,
                   ">= 100,000 labels train a network end to end; MAE's 85.9 % is itself a "
                   "fine-tuning result on ImageNet's 1.28M labels."),
        ),
        lambda i: i.labelled_fraction >= 0.5 and i.n_labelled >= 100_000,
    ),
    Rule(
        "prefer_cnn",
        "the backbone must be a CNN",
        (
            Effect("simclr", 1.0,
                   "SimCLR's published numbers are ResNet-50's (69.3 % v1, 71.7 % v2)."),
            Effect("moco", 1.0, "MoCo v2's 71.1 % is a ResNet-50's."),
            Effect("dino", 0.5,
                   "DINO also trains ResNet-50 (75.3 % linear, Caron et al. 2021, Table 2; "
                   "batch-norm in the head)."),
            Effect("mae", -2.0,
                   "MAE drops the masked tokens, which a CNN cannot: ssl_core's conv analogue "
                   "(unet_mae) blanks them and pays for every pixel, losing MAE's >= 3x "
                   "speed-up."),
            Effect("dinov2_linear", -3.0,
                   "DINOv2 exists only as ViTs (ViT-S/14 to ViT-g/14)."),
        ),
        lambda i: i.backbone == "cnn",
    ),
    Rule(
        "prefer_vit",
        "the backbone must be a ViT",
        (
            Effect("dino", 0.5,
                   "DINO was designed for ViTs (ViT-S/16: 77.0 % linear)."),
            Effect("mae", 0.5,
                   "MAE is a ViT method (it encodes only visible tokens): ViT-L/16 85.9 % "
                   "fine-tuned."),
            Effect("simclr", -0.5,
                   "SimCLR was tuned on ResNet-50 (69.3-71.7 %); contrastive ViTs needed extra "
                   "stabilisation (MoCo v3, 2021)."),
            Effect("moco", -0.5,
                   "MoCo v2 was tuned on ResNet-50 (71.1 %); ViTs needed MoCo v3's 2021 "
                   "stabilisation tricks."),
        ),
        lambda i: i.backbone == "vit",
    ),
)



EXCLUSION_TEXT = {
    "dinov2_linear": "needs permission to use a public pretrained checkpoint",
    "finetune": "needs at least one labelled image",
}


def exclusions(inputs: PickerInputs) -> dict[str, str]:
    """Options that cannot be offered for ``inputs``, with the reason (hard constraints)."""
    out = {}
    if not inputs.pretrained_allowed:
        out["dinov2_linear"] = (
            "a public pretrained checkpoint may not be used, and DINOv2 off the shelf is one"
        )
    if inputs.n_labelled == 0:
        out["finetune"] = "there are no labelled images to fine-tune with"
    return out


def rules_markdown() -> str:
    """The rule book as Markdown: every scoring rule with its condition and points, the budget
    rules with the throughputs they assume, the hard constraints and the tie order."""
    lines = ["| rule | when | points |", "| --- | --- | --- |"]
    for rule in RULES:
        points = ", ".join(f"{e.method} {e.points:+g}" for e in rule.effects)
        lines.append(f"| {rule.key} | {rule.when} | {points} |")
    for key, when, points in BUDGET_RULES:
        lines.append(f"| {key} | {when} | {points} |")
    methods = list(THROUGHPUT["gpu"])
    lines += [
        "",
        "Throughput assumed by the budget rules (images/s per device; many GPUs = "
        f"{GPUS_FOR_MANY} devices):",
        "",
        "| compute | " + " | ".join(methods) + " |",
        "| --- | " + " | ".join("---:" for _ in methods) + " |",
    ]
    for compute, rates in THROUGHPUT.items():
        lines.append(f"| {compute} | " + " | ".join(f"{rates[m]:g}" for m in methods) + " |")
    lines += [
        "",
        "Hard constraints (the option is not offered): "
        + "; ".join(f"{m} {why}" for m, why in EXCLUSION_TEXT.items())
        + ". Ties are broken in this order: " + ", ".join(METHODS) + ".",
    ]
    return "\n".join(lines)


