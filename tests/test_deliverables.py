"""Tests for the lesson's deliverables in outputs/.

- ``prompt-ssl-pretraining-picker.md`` must give the answers ``lesson.picker`` gives: its rule
  book is ``rules_markdown()`` verbatim, its published numbers are ``PUBLISHED_IMAGENET``'s, and
  every worked example and command is recomputed with ``recommend`` and compared.
- ``skill-linear-probe-runner.md`` must run as written: its ``bash`` blocks marked
  ``<!-- test: run -->`` run in a scratch directory (a 3-step pretraining, then the probe CLI), its
  ``python`` blocks run in order in one namespace (DINOv2 comes from a tiny random model placed in
  a temporary Hugging Face cache under the real id), and every ``ssl_core`` command in any block is
  parsed by that CLI's own parser.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lesson import picker
from lesson.picker import PUBLISHED_IMAGENET, PickerInputs, published, recommend, rules_markdown
from lesson.picker.budget import RECIPE_EPOCHS
from ssl_core.pretrain import build_parser as pretrain_parser
from ssl_core.probe import build_parser as probe_parser

ROOT = Path(__file__).resolve().parents[1]
PROMPT = ROOT / "outputs" / "prompt-ssl-pretraining-picker.md"
SKILL = ROOT / "outputs" / "skill-linear-probe-runner.md"

NAMES = {"dinov2_linear": "DINOv2", "finetune": "fine-tuning", "mae": "MAE", "dino": "DINO",
         "simclr": "SimCLR", "moco": "MoCo"}
THREE = ("dinov2_linear", "mae", "simclr")


def _between(text: str, name: str) -> str:
    match = re.search(rf"<!-- {name}:begin -->\n(.*?)\n<!-- {name}:end -->", text, re.S)
    assert match, f"no <!-- {name}:begin/end --> block"
    return match.group(1)


def _table(block: str) -> list[dict[str, str]]:
    """Rows of a Markdown table as dicts keyed by the header cells."""
    lines = [line for line in block.strip().splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert set(lines[1].replace("|", "").split()) <= {"---", "---:"}, lines[1]
    return [dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")), strict=True))
            for line in lines[2:]]



pytestmark = pytest.mark.usefixtures("one_torch_thread")

# ----------------------------------------------------------------------------------------------
# The picker prompt
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prompt() -> str:
    return PROMPT.read_text()


def _example_inputs(row: dict[str, str]) -> PickerInputs:
    count = lambda text: int(text.replace(",", ""))  # noqa: E731
    yes_no = {"yes": True, "no": False}
    return PickerInputs(
        n_unlabelled=count(row["unlabelled"]), n_labelled=count(row["labelled"]),
        compute=row["compute"], hours=float(row["hours"]), task=row["task"],
        backbone=row["backbone"], pretrained_allowed=yes_no[row["public checkpoint"]],
        image_domain=row["domain"],
    )


def test_prompt_rule_book_is_the_pickers(prompt):
    assert _between(prompt, "rules") == rules_markdown()


def test_prompt_published_numbers_are_the_pickers(prompt):
    rows = _table(_between(prompt, "published"))
    assert [row["key"] for row in rows] == [p.key for p in PUBLISHED_IMAGENET]
    for row in rows:
        expected = published(row["key"])
        assert row["model"] == expected.model and row["source"] == expected.citation
        for column, value in (("linear", expected.linear), ("k-NN", expected.knn),
                              ("fine-tuned", expected.fine_tuned)):
            assert row[column] == ("" if value is None else f"{value:.1f}"), (row, column)


def test_prompt_examples_agree_with_the_picker(prompt):
    rows = _table(_between(prompt, "examples"))
    assert len(rows) >= 8
    assert {row["pick"] for row in rows} == {"DINOv2", "MAE", "SimCLR"}
    for row in rows:
        recs = recommend(_example_inputs(row))
        pick = next(r for r in recs if r.method in THREE)
        assert row["pick"] == NAMES[pick.method], row
        assert row["first choice overall"] == f"{NAMES[recs[0].method]} ({recs[0].score:+g})", row


def test_prompt_commands_are_the_pickers(prompt):
    rows = _table(_between(prompt, "examples"))
    blocks = re.findall(r"<!-- command: example (\d+) -->\n```(bash|python)\n(.*?)```", prompt,
                        re.S)
    assert len(blocks) >= 3
    kinds = set()
    for number, language, code in blocks:
        recs = recommend(_example_inputs(rows[int(number) - 1]))
        pick = next(r for r in recs if r.method in THREE)
        assert code.rstrip("\n") == pick.command.rstrip("\n"), number
        kinds.add(language)
        if language == "bash":
            words = shlex.split(code)
            assert words[:3] == ["python3", "-m", "ssl_core.pretrain"]
            pretrain_parser().parse_args(words[3:])
        else:
            compile(code, f"<example {number}>", "exec")
    assert kinds == {"bash", "python"}


def test_prompt_states_the_pickers_recipe_caps_and_device_count(prompt):
    caps = RECIPE_EPOCHS
    assert f"(SimCLR {caps['simclr']}, MAE {caps['mae']})" in prompt
    assert f"`--devices {picker.GPUS_FOR_MANY}`" in prompt
    assert f"a node of {picker.GPUS_FOR_MANY}" in prompt


# ----------------------------------------------------------------------------------------------
# The linear-probe skill
# ----------------------------------------------------------------------------------------------

_BLOCK = re.compile(r"(<!-- test: (\w+) -->\n)?```(bash|python)\n(.*?)```", re.S)


def _skill_blocks() -> list[tuple[str | None, str, str]]:
    return [(mark or None, language, code)
            for _, mark, language, code in _BLOCK.findall(SKILL.read_text())]


def _shell_commands(code: str) -> list[list[str]]:
    """The commands of a bash block, one word list each (``\\`` continuations joined)."""
    joined = re.sub(r"\\\n\s*", " ", code)
    return [shlex.split(line) for line in joined.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_skill_has_front_matter_and_marks_every_code_block():
    text = SKILL.read_text()
    front = re.match(r"---\nname: (\S+)\ndescription: (.+?)\n---\n", text)
    assert front and front.group(1) == "linear-probe-runner"
    blocks = _skill_blocks()
    assert sum(language == "python" for _, language, _ in blocks) >= 3
    assert sum(mark == "run" and language == "bash" for mark, language, _ in blocks) >= 2
    for mark, language, _ in blocks:
        assert language == "bash" or mark == "run"  # every Python example runs in the test


def test_every_ssl_core_command_in_the_skill_parses():
    parsers = {"ssl_core.pretrain": pretrain_parser(), "ssl_core.probe": probe_parser()}
    seen = set()
    for _, language, code in _skill_blocks():
        if language != "bash":
            continue
        for words in _shell_commands(code):
            assert words[:2] == ["python3", "-m"] and words[2] in parsers, words
            parsers[words[2]].parse_args(words[3:])
            seen.add(words[2])
    assert seen == set(parsers)


def _write_images(folder: Path, n: int, *, seed: int, shift: int) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        pixels = rng.integers(0, 120, (36, 44, 3)) + shift  # (H, W, 3)
        Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i:02d}.png")


@pytest.mark.slow
def test_skill_runs_as_written(tmp_path, monkeypatch, tiny_dinov2_cache):
    work = tmp_path / "work"
    for split, n in (("train", 12), ("test", 6)):
        for c in range(2):
            _write_images(work / "data" / "labelled" / split / f"class{c}", n, seed=10 * c + n,
                          shift=120 * c)
    cache = tiny_dinov2_cache
    monkeypatch.chdir(work)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    # The skill's shell blocks say `python3`: make that this interpreter, not the PATH's.
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "python3").symlink_to(sys.executable)
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH",
                                                                                   "")]),
                        "PATH": os.pathsep.join([str(shims), os.environ.get("PATH", "")]),
                        "OMP_NUM_THREADS": "1"}  # as _one_torch_thread, for the CLI processes
    namespace: dict[str, object] = {"__name__": "__main__"}
    printed = []
    for mark, language, code in _skill_blocks():
        if mark != "run":
            continue
        if language == "bash":
            done = subprocess.run(["bash", "-e", "-c", code], env=env, capture_output=True,
                                  text=True, timeout=240)
            assert done.returncode == 0, done.stderr[-2000:]
            printed.append(done.stdout)
        else:
            output = io.StringIO()
            with contextlib.redirect_stdout(output):
                exec(compile(code, "<skill block>", "exec"), namespace)
            printed.append(output.getvalue())

    # The CLI path: a checkpoint, then a probe report with both baselines.
    assert json.loads((work / "runs/skill-demo/config.json").read_text())["step"] == 3
    report = json.loads((work / "runs/skill-demo-probe/probe-skill-demo.json").read_text())
    assert [row["kind"] for row in report["rows"]] == ["pretrained", "random_init", "raw_pixels"]
    assert report["evaluation"]["n_train"] == 300 and report["evaluation"]["n_test"] == 200

    # The API path: the function, then three uses of it.
    text = "\n".join(printed)
    for name in ("pretrained", "same net, random init", "raw pixels", "DINOv2 ViT-S/14",
                 "raw pixels 32 px", "ResNet-18 (random init)"):
        assert f"| {name} |" in text, name
    assert re.search(r"linear probe \d\.\d{3} \(multinomial logistic regression", text)
    assert "encoder weights verified unchanged" in text
    final = namespace["report"]
    assert final["n_train"] == 24 and final["n_test"] == 12
    for row in final["rows"].values():
        for key, value in row.items():
            if key != "feature_dim":
                accuracy = value[0] if isinstance(value, tuple) else value
                assert 0.0 <= accuracy <= 1.0, (key, value)
    # 3a probed the 300-image Fashion-MNIST subset with the 10-per-class and all-label probes
    assert "linear, 10/class" in text and "frozen features of 300 train / 150 test images" in text
    # the skill's frozen-ness check is real: an encoder that changes while embedding is refused
    import torch

    class Drifting(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("calls", torch.zeros(1))

        def forward_features(self, x: torch.Tensor) -> torch.Tensor:
            self.calls += 1  # state that moves at every batch, like batch-norm in train mode
            return x.flatten(1)

    images = (np.zeros((4, 1, 4, 4), np.uint8), np.array([0, 1, 0, 1]))
    with pytest.raises(RuntimeError, match="drifting: weights changed while embedding"):
        namespace["probe_report"]({"drifting": Drifting()}, images, images)
