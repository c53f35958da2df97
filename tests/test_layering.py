"""The layers and their import rule (README, "For maintainers"; docs/DESIGN.md):

    ssl_core  <-  lesson  <-  app  <-  pages

Each layer imports only the layers to its left. ``ssl_core`` is a library about self-supervised
vision: it names no page, no Streamlit and no lesson. ``pages`` hold widgets and words: they call
``app`` and ``lesson`` and never reach into torch, safetensors or a checkpoint's config.json.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("ssl_core", "lesson", "app", "pages")

# Files that may break a rule for now, with the reason. Keep it short.
EXCEPTIONS: dict[str, str] = {}


def _files(layer: str) -> list[Path]:
    return sorted((ROOT / layer).rglob("*.py"))


def _imported_modules(path: Path) -> set[str]:
    """Top-level modules a file imports (absolute imports, anywhere in the file)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_ssl_core_never_imports_streamlit_plotly_or_the_layers_above():
    """Import every ssl_core module in a fresh interpreter: the library must stay usable (and
    testable) without the app's UI packages and without the lesson and app layers."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import ssl_core\n"
        "for m in pkgutil.walk_packages(ssl_core.__path__, 'ssl_core.'):\n"
        "    if m.name not in ('ssl_core.pretrain', 'ssl_core.probe'):\n"
        "        importlib.import_module(m.name)\n"
        "import ssl_core.pretrain, ssl_core.probe\n"
        "bad = sorted(n for n in sys.modules\n"
        "             if n.split('.')[0] in ('streamlit', 'plotly', 'lesson', 'app', 'pages'))\n"
        "print(len([n for n in sys.modules if n.startswith('ssl_core')]), bad)\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    count = int(out.stdout.split()[0])
    assert count > 40  # the walk really imported the package's modules


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_imports_only_the_layers_below_it(layer):
    allowed = set(LAYERS[: LAYERS.index(layer) + 1])
    ui = {"streamlit", "plotly"}
    problems = []
    for path in _files(layer):
        for module in _imported_modules(path):
            top = module.split(".")[0]
            if top in LAYERS and top not in allowed:
                problems.append(f"{path.relative_to(ROOT)} imports {module}")
            if layer in ("ssl_core", "lesson") and top in ui:
                problems.append(f"{path.relative_to(ROOT)} imports {module} (no UI below app/)")
    assert not problems, "\n".join(problems)


# Words that tie a library module to this app: the UI toolkit, the pages, the lesson layer.
APP_WORDS = re.compile(r"streamlit|\bst\.(?:cache|session_state)|\bpages?\b|\blesson\b|\bapp\b"
                       r"|\bapp's\b|\bslider", re.IGNORECASE)


def test_no_ssl_core_module_names_the_app_the_pages_or_the_lesson():
    """Code, comments and docstrings alike: the library describes self-supervised vision, not
    the app built on it (who uses a function is the caller's business)."""
    problems = []
    for path in _files("ssl_core"):
        relative = path.relative_to(ROOT).as_posix()
        if relative in EXCEPTIONS:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if APP_WORDS.search(line):
                problems.append(f"{relative}:{number}: {line.strip()}")
    assert not problems, "\n".join(problems)


def test_exceptions_are_still_needed():
    """An exception that no longer breaks its rule is removed from EXCEPTIONS."""
    for relative in EXCEPTIONS:
        text = (ROOT / relative).read_text(encoding="utf-8")
        assert APP_WORDS.search(text), f"{relative} no longer needs its exception"


# What a page must not touch: torch and safetensors, checkpoint files, model internals.
PAGE_FORBIDDEN_IMPORTS = ("torch", "torchvision", "safetensors", "transformers")
PAGE_FORBIDDEN_CODE = re.compile(
    r"\bmodel\.grid\b|\.backbone\.in_chans\b|\.config\.proj_out_dim\b|SafetensorError"
    r"|\.state_dict\(|load_file\(|\bjson\.load")


@pytest.mark.parametrize("path", _files("pages"), ids=lambda p: p.name)
def test_pages_never_touch_torch_safetensors_or_config_json(path):
    problems = []
    for module in _imported_modules(path):
        if module.split(".")[0] in PAGE_FORBIDDEN_IMPORTS:
            problems.append(f"imports {module}")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        # a string naming a checkpoint file is a path being built (prose in a sentence is fine)
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and re.fullmatch(r"[\w./-]*(?:config\.json|\.safetensors)", node.value)):
            problems.append(f"line {node.lineno}: the file name {node.value!r}")
    code = ast.unparse(tree)  # code without comments or docstring layout
    problems += [f"uses {match.group(0)!r}" for match in PAGE_FORBIDDEN_CODE.finditer(code)]
    assert not problems, f"{path.name}: " + "; ".join(problems)
