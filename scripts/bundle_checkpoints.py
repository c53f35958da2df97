"""Train, bundle and describe the checkpoints that ship with the app (``assets/checkpoints/``).

Each bundled checkpoint is a run of ``python -m ssl_core.pretrain`` with a recipe listed here;
``assets/checkpoints/PROVENANCE.md`` is generated from the runs' own config.json and metrics.jsonl.

    python3 scripts/bundle_checkpoints.py train simclr     # run the recipe into runs/bundle-simclr,
                                                           # then bundle it (wall time: PROVENANCE)
    python3 scripts/bundle_checkpoints.py bundle simclr --run DIR   # bundle an existing run of the
                                                           # recipe (its config must match)
    python3 scripts/bundle_checkpoints.py provenance       # rewrite PROVENANCE.md
    python3 scripts/bundle_checkpoints.py check            # configs match recipes, size limit

Only the weights (model.safetensors), config.json and metrics.jsonl are bundled; the optimizer
state (train_state.*) stays in the run directory. The bundle is capped at 60 MB in all.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ssl_core import paths  # noqa: E402
from ssl_core.checkpoints import (  # noqa: E402
    CONFIG_FILE,
    METRICS_FILE,
    WEIGHTS_FILE,
    checkpoint_info,
)

BUNDLE_DIR = paths.checkpoints_dir()
BUNDLE_FILES = (WEIGHTS_FILE, CONFIG_FILE, METRICS_FILE)
MAX_BUNDLE_MB = 60  # issue 13 let the bundle grow from 40 MB
MAX_BUNDLE_BYTES = MAX_BUNDLE_MB * 1024 * 1024
FASHION_STATS = ('"input_mean=[0.286]"', '"input_std=[0.353]"')  # bundled train subset's pixels


@dataclass(frozen=True)
class Recipe:
    """A bundled checkpoint: what it is for and the pretrain arguments that make it."""

    name: str
    purpose: str
    args: str  # arguments of `python -m ssl_core.pretrain` (without --out)

    def argv(self, out: str | Path) -> list[str]:
        return [*shlex.split(self.args), "--out", str(out), "--no-progress"]

    def command(self, out: str | Path = "runs/bundle-{name}") -> str:
        out = str(out).format(name=self.name)
        return f"python3 -m ssl_core.pretrain {self.args} --out {out}"


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            "simclr",
            "SimCLR encoder for the InfoNCE real mode, embeddings, retrieval and probes "
            "(trained on the full 60,000-image train split)",
            "--method simclr --backbone cnn_base_28 --data fashion-mnist-full --epochs 80 "
            "--batch-size 256 --method-config temperature=0.2 --channels-last "
            "--precision bf16-mixed --accelerator cpu --checkpoint-every 1000",
        ),
        Recipe(
            "dino",
            "DINO on SimCLR's CNN, for embeddings, retrieval and probes (trained on the full "
            "60,000-image train split; a CNN has no attention: the attention page uses dino_vit)",
            "--method dino --backbone cnn_base_28 --data fashion-mnist-full --epochs 30 "
            "--batch-size 256 --lr 5e-4 --grad-clip 3 --channels-last --precision bf16-mixed "
            "--accelerator cpu --augment n_local=4 --method-config out_dim=4096 head_use_bn=True "
            "norm_last_layer=False momentum_base=0.996 freeze_last_layer_epochs=1 "
            "--checkpoint-every 250",
        ),
        Recipe(
            "dino_vit",
            "DINO ViT for the attention page (CLS attention maps and the attention_foreground "
            "result; 1,500 steps on the bundled 20,000-image subset)",
            "--method dino --backbone vit_tiny_p4_28 --backbone-kwargs "
            f"{' '.join(FASHION_STATS)} --steps 1500 --batch-size 64 --lr 0.0005 "
            "--grad-clip 3.0 --augment n_local=4 --method-config out_dim=1024 momentum_base=0.996",
        ),
        Recipe(
            "mae",
            "MAE ViT (average-pooled features) for the MAE page on Fashion-MNIST and probes "
            "(trained on the full 60,000-image train split)",
            "--method mae --backbone vit_tiny_p4_28 --backbone-kwargs global_pool=avg "
            "--data fashion-mnist-full --epochs 50 --batch-size 256 --precision bf16-mixed "
            "--accelerator cpu --checkpoint-every 500",
        ),
        Recipe(
            "mae_rgb",
            "MAE ViT on random 64x64 crops of the 16 bundled photos, for colour photos and "
            "uploads on the MAE page",
            "--method mae --backbone vit_tiny_p8_64 --data assets/images --repeat-data 64 "
            "--steps 3000 --batch-size 64",
        ),
        Recipe(
            "unet_mae",
            "TinyUNet masked reconstruction of the lesson's hard exercise (1,000-image subset)",
            "--method unet_mae --backbone unet_tiny_28 --limit-images 1000 --epochs 200 "
            "--batch-size 100 --base-lr 1e-3 --seed 0",
        ),
    )
}

# TrainConfig fields that define a recipe (the rest -- out_dir, logging, workers -- do not).
_COMPARED = ("method", "backbone", "backbone_kwargs", "method_config", "augment", "data",
             "limit_images", "repeat_data", "steps", "epochs", "batch_size", "lr", "base_lr",
             "weight_decay", "warmup_steps", "grad_clip", "seed", "precision")


def recipe_train_config(recipe: Recipe) -> dict[str, Any]:
    """The TrainConfig fields the recipe's command line sets, parsed by the real CLI parser."""
    from ssl_core.pretrain import build_parser, given_fields

    args = build_parser().parse_args(shlex.split(recipe.args))
    given = given_fields(args)
    if "epochs" in given:
        given["steps"] = None
    return given


def mismatches(recipe: Recipe, run_config: dict[str, Any]) -> list[str]:
    """Fields where a run's saved ``config.json["train"]`` differs from what the recipe sets.

    Only fields the recipe sets are compared, except that a run must not set a field the
    recipe leaves at its default (e.g. an extra --augment): both sides are resolved through
    TrainConfig's defaults for the compared fields.
    """
    from ssl_core.train import TrainConfig

    wanted = recipe_train_config(recipe)
    defaults = TrainConfig(**{"steps": None, "epochs": 1.0} if "epochs" in wanted else {})
    train = run_config.get("train", {})
    problems = []
    for field in _COMPARED:
        if field in wanted:
            expected = wanted[field]
        elif field in ("lr", "warmup_steps", "base_lr", "backbone"):
            continue  # resolved by the trainer from other fields when the recipe leaves them
        else:
            expected = getattr(defaults, field)
        actual = train.get(field, getattr(defaults, field))
        if field == "data" and expected == actual:
            continue
        if isinstance(expected, dict):
            # kwargs: the recipe's keys must match; the trainer may add resolved keys elsewhere
            if {k: actual.get(k) for k in expected} != expected or set(actual) - set(expected):
                problems.append(f"{field}: run has {actual!r}, recipe says {expected!r}")
        elif actual != expected and not (
            isinstance(expected, float) and isinstance(actual, float)
            and abs(expected - actual) <= 1e-12 * max(1.0, abs(expected))
        ):
            problems.append(f"{field}: run has {actual!r}, recipe says {expected!r}")
    return problems


def bundle(name: str, run_dir: str | Path) -> Path:
    """Copy the run's weights, config and metrics into ``assets/checkpoints/<name>``."""
    recipe = RECIPES[name]
    run_dir = Path(run_dir)
    config = json.loads((run_dir / CONFIG_FILE).read_text())
    problems = mismatches(recipe, config)
    if problems:
        raise SystemExit(f"{run_dir} is not a run of the {name!r} recipe:\n  "
                         + "\n  ".join(problems))
    if config.get("step") != config.get("total_steps"):
        raise SystemExit(f"{run_dir} stopped at step {config.get('step')} of "
                         f"{config.get('total_steps')}; finish it with --resume first")
    target = BUNDLE_DIR / name
    target.mkdir(parents=True, exist_ok=True)
    for file in BUNDLE_FILES:
        shutil.copyfile(run_dir / file, target / file)
    return target


def describe(name: str) -> dict[str, Any]:
    """A bundled checkpoint's facts, read from its own files (``CheckpointInfo``)."""
    info = checkpoint_info(BUNDLE_DIR / name)
    config, train = info.config, info.config["train"]
    losses = [r["loss"] for r in info.metrics if isinstance(r.get("loss"), int | float)]
    return {
        "name": name,
        "method": info.method,
        "backbone": info.backbone,
        "data": config["data"].get("name", config["data"].get("spec")),
        "data_hashes": info.data_sha256,
        "n_images": config["data"].get("n_images"),
        "steps": info.step,
        "batch_size": info.batch_size,
        "lr": train["lr"],
        "accelerator": train["accelerator"],
        "wall_time_s": info.wall_time_s,
        "median_time_s": info.median_time_s,
        "final_loss": losses[-1] if losses else None,
        "weights_bytes": info.size_bytes,
        "weights_sha256": info.sha256,
        "versions": config.get("versions", {}),
    }


def bundled_names() -> list[str]:
    return sorted(p.name for p in BUNDLE_DIR.iterdir()
                  if p.is_dir() and (p / WEIGHTS_FILE).is_file()) if BUNDLE_DIR.is_dir() else []


def bundle_bytes() -> int:
    return sum(f.stat().st_size for f in BUNDLE_DIR.rglob("*") if f.is_file())


def write_provenance() -> Path:
    lines = [
        "# Provenance of the bundled checkpoints",
        "",
        "Generated by `python3 scripts/bundle_checkpoints.py provenance` from each checkpoint's",
        "own config.json and metrics.jsonl (do not edit by hand). Every checkpoint is a run of",
        "`python -m ssl_core.pretrain`; `python3 scripts/bundle_checkpoints.py train NAME`",
        "reproduces it (the command below) and bundles it. Wall times are the trainer's own",
        "elapsed time on the machine named; they were measured on a 2-core CPU without a GPU,",
        "sometimes with other jobs on the other core, so treat them as upper bounds; \"at the",
        "median step\" is the steps times the run's median logged step time, its pace unloaded.",
        "",
        "| name | method | backbone | data | steps x batch | wall time | at the median step "
        "| final loss | weights |",
        "|---|---|---|---|---|---:|---:|---:|---:|",
    ]
    facts = [describe(n) for n in bundled_names()]
    for f in facts:
        wall = f"{f['wall_time_s']:.0f} s" if f["wall_time_s"] is not None else "?"
        typical = f"{f['median_time_s']:.0f} s" if f["median_time_s"] is not None else "?"
        loss = f"{f['final_loss']:.4f}" if f["final_loss"] is not None else "?"
        lines.append(
            f"| `{f['name']}` | {f['method']} | {f['backbone']} | {f['data']} "
            f"({f['n_images']} images) | {f['steps']} x {f['batch_size']} | {wall} | {typical} | "
            f"{loss} | {f['weights_bytes'] / 1e6:.1f} MB |"
        )
    lines += ["", f"Total bundle: {bundle_bytes() / 1e6:.1f} MB (limit {MAX_BUNDLE_MB} MB).", ""]
    for f in facts:
        recipe = RECIPES.get(f["name"])
        lines += [f"## `{f['name']}`", ""]
        if recipe is not None:
            lines += [recipe.purpose + ".", "", "```", recipe.command(), "```", ""]
        lines += [
            f"- accelerator: {f['accelerator']}; peak lr {f['lr']:.3g}; "
            f"versions: {', '.join(f'{k} {v}' for k, v in f['versions'].items())}",
            "- data hashes (sha256): "
            + ", ".join(f"{k} `{v}`" for k, v in f["data_hashes"].items()),
            f"- model.safetensors sha256 `{f['weights_sha256']}`",
            "",
        ]
    path = BUNDLE_DIR / "PROVENANCE.md"
    path.write_text("\n".join(lines))
    return path


def check() -> list[str]:
    """Problems with the bundle: configs that do not match their recipe, size over the cap."""
    problems = []
    for name in bundled_names():
        if name not in RECIPES:
            problems.append(f"{name}: no recipe in scripts/bundle_checkpoints.py")
            continue
        config = json.loads((BUNDLE_DIR / name / CONFIG_FILE).read_text())
        problems += [f"{name}: {p}" for p in mismatches(RECIPES[name], config)]
    if bundle_bytes() > MAX_BUNDLE_BYTES:
        problems.append(f"bundle is {bundle_bytes() / 1e6:.1f} MB; the limit is {MAX_BUNDLE_MB} MB")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    train = sub.add_parser("train", help="run a recipe and bundle the result")
    train.add_argument("name", choices=sorted(RECIPES))
    train.add_argument("--out", help="run directory [runs/bundle-NAME]")
    add = sub.add_parser("bundle", help="bundle an existing run of a recipe")
    add.add_argument("name", choices=sorted(RECIPES))
    add.add_argument("--run", required=True, help="the run directory")
    sub.add_parser("provenance", help="rewrite assets/checkpoints/PROVENANCE.md")
    sub.add_parser("check", help=f"configs match recipes; total size under {MAX_BUNDLE_MB} MB")
    args = parser.parse_args(argv)

    if args.action == "train":
        out = Path(args.out or ROOT / "runs" / f"bundle-{args.name}")
        cmd = [sys.executable, "-m", "ssl_core.pretrain", *RECIPES[args.name].argv(out)]
        print("$", shlex.join(cmd), file=sys.stderr)
        subprocess.run(cmd, cwd=ROOT, check=True)
        print(f"bundled into {bundle(args.name, out)}", file=sys.stderr)
        write_provenance()
    elif args.action == "bundle":
        print(f"bundled into {bundle(args.name, args.run)}", file=sys.stderr)
        write_provenance()
    elif args.action == "provenance":
        print(write_provenance())
    else:
        problems = check()
        print("\n".join(problems) or f"ok: {bundled_names()}, {bundle_bytes() / 1e6:.1f} MB")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
