"""The command that runs each option with ssl_core: a ``python3 -m ssl_core.pretrain`` line for
the pretraining methods, sized to the compute and capped by the budget, or a short Python script
on ssl_core's API for the off-the-shelf options; and a note on what it does and does not do."""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Mapping
from typing import Any

from lesson.picker.budget import RECIPE_EPOCHS, affordable_epochs
from lesson.picker.inputs import LABELLED_TEST, LABELLED_TRAIN, UNLABELLED_DATA, PickerInputs

__all__ = ["command_for"]

_HF_MODEL = {"cpu": "facebook/dinov2-small", "gpu": "facebook/dinov2-base"}

_SCRIPT_HEAD = '''\
# {title}
# Needs transformers (pip install transformers); the first run downloads the weights.
{imports}
MODEL = "{model}"  # {model_note}
{data_lines}
DEVICE = "{device}"

# One shape per batch (the encoder then resizes to its own input size and normalises).
size = v2.Compose([v2.Resize(224), v2.CenterCrop(224)])
encoder = load_hf_encoder(MODEL, local_only=False, device=DEVICE)
'''

_SCRIPT_BODY = {
    "classification": '''\
x_train, y_train = extract_features(encoder, load_image_folder(TRAIN, size))  # (N, D), (N,)
x_test, y_test = extract_features(encoder, load_image_folder(TEST, size))  # (M, D), (M,)
probe = linear_probe(x_train, y_train, x_test, y_test)
knn = knn_accuracy(x_train, y_train, x_test, y_test, k=min(20, len(y_train)))
print(f"linear probe {probe.accuracy:.3f}, k-NN {knn:.3f}; {probe.protocol}")
''',
    "retrieval": '''\
gallery, _ = extract_features(encoder, load_image_folder(IMAGES, size))  # (N, D)
indices, scores = retrieve(gallery[:5], gallery, k=min(5, len(gallery)))  # (5, k) each
print("the 5 nearest images of the first 5 queries:", indices.tolist())
''',
    "dense": '''\
images = load_image_folder(IMAGES, size)
x = torch.stack([images[i][0] for i in range(min(8, len(images)))]).float() / 255  # (B, 3, H, W)
with torch.inference_mode():
    tokens = encoder.patch_tokens(x.to(DEVICE))  # (B, L, D): one vector per patch
h, w = encoder.grid_size
print(f"patch features {tuple(tokens.shape)} on a {h}x{w} grid: train a linear layer "
      "(D -> classes) per patch on your masks, or a detection head on the grid")
''',
    "correspondence": '''\
images = load_image_folder(IMAGES, size)
x = torch.stack([images[0][0], images[1][0]]).float() / 255  # (2, 3, H, W): a pair to match
with torch.inference_mode():
    tokens = encoder.patch_tokens(x.to(DEVICE))  # (2, L, D)
a, b = torch.nn.functional.normalize(tokens, dim=-1)  # (L, D) each
matches = (a @ b.T).argmax(dim=1)  # (L,): for each patch of image 0, its best patch in image 1
heat = patch_similarity(tokens[0, 0], tokens[1], encoder.grid_size)  # (h, w) map for patch 0
print("best matches of the first 8 patches:", matches[:8].tolist(), "heat map", heat.shape)
''',
}

_SCRIPT_IMPORTS = {
    "classification": "extract_features, knn_accuracy, linear_probe",
    "retrieval": "extract_features, retrieve",
    "dense": "",  # the body uses the encoder's patch tokens directly
    "correspondence": "patch_similarity",
}


def _script_imports(task: str) -> str:
    """The import block of a script, sorted as ruff's isort would."""
    third_party = (["import torch"] if task in ("dense", "correspondence") else [])
    third_party.append("from torchvision.transforms import v2")
    first_party = ["from ssl_core.data import load_image_folder"]
    if _SCRIPT_IMPORTS[task]:
        first_party.append(f"from ssl_core.eval import {_SCRIPT_IMPORTS[task]}")
    first_party.append("from ssl_core.models.hf import load_hf_encoder")
    return "\n".join(third_party) + "\n\n" + "\n".join(first_party) + "\n"


def _python_script(inputs: PickerInputs, *, title: str) -> str:
    gpu = inputs.compute != "cpu"
    if inputs.task == "classification":
        data_lines = (f'TRAIN = "{LABELLED_TRAIN}"  # <class>/<image> folders\n'
                      f'TEST = "{LABELLED_TEST}"')
    else:
        data_lines = f'IMAGES = "{UNLABELLED_DATA}"  # a folder of images (flat or <class>/)'
    head = _SCRIPT_HEAD.format(
        title=title,
        imports=_script_imports(inputs.task),
        model=_HF_MODEL["gpu" if gpu else "cpu"],
        model_note=("ViT-B/14, 84.5 % ImageNet linear (dinov2-large: 86.3 %)"
                    if gpu else "ViT-S/14, 81.1 % ImageNet linear, fine on a CPU"),
        data_lines=data_lines,
        device="cuda" if gpu else "cpu",
    )
    return head + "\n" + _SCRIPT_BODY[inputs.task]


def _kv(options: Mapping[str, Any]) -> list[str]:
    """``KEY=VALUE`` words as the pretrain CLI parses them: JSON values, plain words for text."""
    return [f"{key}={value}" if isinstance(value, str)
            else f"{key}={json.dumps(value, separators=(',', ':'))}"
            for key, value in options.items()]


def _pretrain_setup(method: str, inputs: PickerInputs) -> dict[str, Any]:
    """Backbone, overrides and batch size of the ssl_core run for ``method`` on ``inputs``."""
    cpu = inputs.compute == "cpu"
    many = inputs.compute == "many_gpus"
    ssl_method = "dino" if method == "moco" else method
    use_cnn = inputs.backbone == "cnn" or (inputs.backbone == "any" and method in ("simclr",
                                                                                   "moco"))
    backbone_kwargs: dict[str, Any] = {}
    method_config: dict[str, Any] = {}
    augment: dict[str, Any] = {}
    if ssl_method == "mae" and use_cnn:
        ssl_method = "unet_mae"
        backbone = "unet_tiny_rgb"
        if not cpu:
            backbone_kwargs = {"img_size": 224}
            method_config = {"patch_size": 16}
    elif use_cnn:
        backbone = "cnn_small_rgb"
        if not cpu:  # a ResNet-18-shaped network at 224 px
            backbone_kwargs = {"img_size": 224, "widths": [64, 128, 256, 512],
                               "blocks_per_stage": 2}
    else:
        backbone = "vit_tiny_p8_64" if cpu else "vit_tiny_p16_224"
        if not cpu:
            # ViT-S/16 (DINO's 77.0 % model); MAE on many GPUs: ViT-B/16.
            big = ssl_method == "mae" and many
            backbone_kwargs = ({"embed_dim": 768, "num_heads": 12} if big
                               else {"embed_dim": 384, "num_heads": 6})
        if ssl_method == "mae":
            backbone_kwargs["global_pool"] = "avg"  # mean patch token: better frozen MAE features
    if ssl_method == "simclr":
        batch = 256 if cpu else 512
        if inputs.compute == "one_gpu":
            method_config = {"proj_layers": 3}  # SimCLR v2's deeper head helps small batches
    elif ssl_method == "dino":
        batch = 64 if cpu else 128
        if cpu:
            augment = {"n_local": 4}  # half the local crops: ~2x faster CPU steps
        else:
            method_config = {"out_dim": 65536, "head_hidden_dim": 2048,
                             "head_bottleneck_dim": 256}
            if use_cnn:
                method_config["head_use_bn"] = True  # the official ResNet setting
    elif ssl_method == "mae":
        batch = 256
        if many:
            method_config = {"decoder_dim": 512, "decoder_depth": 8, "decoder_heads": 16,
                             "norm_pix": True}
        elif not cpu:
            method_config = {"decoder_dim": 256, "decoder_depth": 4, "decoder_heads": 8,
                             "norm_pix": True}
    else:  # unet_mae
        batch = 128 if cpu else 256
    return {"method": ssl_method, "backbone": backbone, "backbone_kwargs": backbone_kwargs,
            "method_config": method_config, "augment": augment, "batch_size": batch}


def _pretraincommand_for(method: str, inputs: PickerInputs, data: str) -> str:
    setup = _pretrain_setup(method, inputs)
    runs = "dino" if method == "moco" else method  # the epochs of what the command really runs
    epochs = affordable_epochs(inputs, runs, inputs.n_total)
    epochs = max(1, min(RECIPE_EPOCHS[runs], math.floor(epochs)))
    words = ["python3", "-m", "ssl_core.pretrain", "--method", setup["method"],
             "--backbone", setup["backbone"]]
    for flag, key in (("--backbone-kwargs", "backbone_kwargs"),
                      ("--method-config", "method_config"), ("--augment", "augment")):
        if setup[key]:
            words += [flag, *_kv(setup[key])]
    words += ["--data", data, "--epochs", str(epochs), "--batch-size", str(setup["batch_size"])]
    if inputs.compute == "cpu":
        words += ["--accelerator", "cpu"]
    else:
        words += ["--accelerator", "cuda", "--precision", "bf16-mixed"]
        if inputs.devices > 1:
            words += ["--devices", str(inputs.devices)]
    words += ["--out", f"runs/{method}-picker"]
    return shlex.join(words)


def command_for(method: str, inputs: PickerInputs, data: str) -> tuple[str | None, str, str]:
    """``(command, kind, note)`` for one option."""
    evaluate = ("Then probe the frozen encoder on your labelled images: "
                "outputs/skill-linear-probe-runner.md (load_encoder + probe_encoder); on "
                "Fashion-MNIST: `python3 -m ssl_core.probe --checkpoint "
                f"runs/{method}-picker --baselines`.")
    if method == "dinov2_linear":
        title = {"classification": "DINOv2 off the shelf + linear head and k-NN",
                 "retrieval": "DINOv2 off the shelf: nearest-neighbour retrieval",
                 "dense": "DINOv2 off the shelf: patch features for a dense head",
                 "correspondence": "DINOv2 off the shelf: patch correspondence"}[inputs.task]
        return (_python_script(inputs, title=title), "python",
                "A Python script on ssl_core's API (the ssl_core.probe CLI only reads "
                "checkpoints written by ssl_core.pretrain); run it with `python3 -` after "
                "editing the paths.")
    if method == "finetune":
        if inputs.pretrained_allowed and inputs.task == "classification":
            return (_python_script(inputs, title="The frozen DINOv2 baseline that fine-tuning "
                                                 "must beat"), "python",
                    "ssl_core has no fine-tuning loop. This script measures the frozen DINOv2 "
                    "linear probe, the number fine-tuning has to beat; fine-tune with "
                    "transformers (Dinov2Model + a linear head, all weights trainable, lr "
                    "~1e-5 to 1e-4 with layer-wise decay) or timm.")
        if inputs.pretrained_allowed:
            return (_python_script(inputs, title="DINOv2 features to fine-tune from"), "python",
                    "ssl_core has no fine-tuning loop. This script loads the DINOv2 backbone "
                    "(the starting point) and shows its features; fine-tune it end to end with "
                    "your task's head in transformers, timm or detectron2/mmdetection.")
        return (None, "none",
                "For small images on one machine, ssl_core.supervised.train_supervised trains a "
                "registry backbone from scratch on labelled arrays (the hard exercise's "
                "baseline); at scale, use torchvision's classification references or timm's "
                "train.py. To start from a self-supervised checkpoint instead, pretrain with one "
                "of the other options first.")
    command = _pretraincommand_for(method, inputs, data)
    if inputs.compute != "cpu":
        evaluate = ("--precision bf16-mixed needs an Ampere or newer GPU (16-mixed on a V100). "
                    + evaluate)
    if method == "moco":
        return (command, "pretrain",
                "MoCo is not implemented in ssl_core. This command runs DINO, ssl_core's closest "
                "method (a momentum/EMA teacher, no large batch of negatives needed); for MoCo "
                "itself use lightly (MoCo v2/v3 with a memory bank) or "
                "facebookresearch/moco-v3. " + evaluate)
    if method == "mae" and inputs.backbone == "cnn":
        return (command, "pretrain",
                "Runs unet_mae, ssl_core's masked reconstruction for conv nets (MAE proper "
                "needs a ViT). " + evaluate)
    return command, "pretrain", evaluate


