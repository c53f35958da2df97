"""Which encoders the representation pages offer, and the encoder behind each choice.

Encoders (:class:`EncoderOption`, listed by :func:`encoder_options`, one key each):

- ``ckpt:<name>``: every bundled checkpoint (``ssl_core.checkpoints``' catalogue), labelled from
  its config.json (method, backbone, data);
- ``random:<name>``: the same backbone at random initialisation (seed 0): what training added;
- ``raw``: raw pixels (``ssl_core.eval.RawPixels``), the baseline every encoder must beat;
- ``hf:<repo id>``: DINOv2 / ViT-MAE when the local Hugging Face cache holds them (never
  downloaded; :func:`app.resources.local_hf_models`).

Each option says which images it accepts (``size`` x ``size``, 1 or 3 channels; ``None`` for
"the dataset's own", as raw pixels and the transformers models, which resize internally).
Encoders are loaded through ``st.cache_resource`` (eval, gradients off, never mutated).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from torch import nn

from app import resources
from app.state import Param
from app.text import literal
from ssl_core import paths
from ssl_core.checkpoints import (
    CONFIG_FILE,
    CheckpointError,
    checkpoint_info,
    checkpoint_names,
    checkpoint_stamp,
    random_init_encoder,
    read_json,
)
from ssl_core.eval import RawPixels
from ssl_core.methods import METHOD_LABELS

__all__ = [
    "EncoderOption",
    "default_encoder",
    "encoder_options",
    "encoder_param",
    "encoder_picker",
    "load_encoder",
    "missing_checkpoints_message",
    "option_by_key",
    "unavailable_message",
]

RANDOM_SEED = 0  # random-init encoders


@dataclass(frozen=True)
class EncoderOption:
    """One entry of the encoder picker.

    ``size``/``channels``: the images it accepts (28 x 28 x 1 for the Fashion-MNIST models);
    None means the dataset's own (raw pixels, transformers models). ``stamp`` names the weights
    (checkpoint path and mtime) so cached features follow a replaced checkpoint.
    """

    key: str
    label: str
    kind: str  # "ssl" | "random" | "raw" | "foundation"
    size: int | None = None
    channels: int | None = None
    stamp: str = ""

    @property
    def title(self) -> str:
        """A plain name for a chart's title ("SimCLR", "Random init", "Raw pixels (no
        learning)"): the label's first part, without the backbone and data."""
        return self.label.split(" · ")[0]

    @property
    def accepts(self) -> str:
        """What images it takes, in words."""
        if self.size is None:
            return "any image (resized by the model)" if self.kind == "foundation" else (
                "the dataset's own pixels")
        return f"{self.size} x {self.size} {'gray' if self.channels == 1 else 'RGB'}"


def _checkpoint_options() -> list[EncoderOption]:
    options, random_options, seen_archs = [], [], set()
    for name in checkpoint_names():
        path = paths.checkpoints_dir() / name
        try:
            info = checkpoint_info(path)
        except (CheckpointError, OSError, ValueError):
            options.append(EncoderOption(f"ckpt:{name}", f"{name} (config.json unreadable)",
                                         "ssl", stamp=_stamp(path)))
            continue
        method = METHOD_LABELS.get(info.method, info.method)
        data = (info.data_name or "unknown data").split(",")[0].strip()
        side = info.img_size[0] if info.img_size is not None else None
        options.append(EncoderOption(f"ckpt:{name}", f"{method} · {info.backbone} · {data}",
                                     "ssl", side, info.in_chans, info.stamp))
        arch = json.dumps([info.backbone, info.config.get("backbone_kwargs")], sort_keys=True)
        if side is not None and arch not in seen_archs:
            seen_archs.add(arch)
            random_options.append(EncoderOption(
                f"random:{name}", f"Random init · {info.backbone} (as {name})",
                "random", side, info.in_chans, info.stamp))
    return options + random_options


def _stamp(path: Path) -> str:
    try:
        return checkpoint_stamp(path)
    except OSError:
        return str(path)


def encoder_options() -> list[EncoderOption]:
    """Every encoder this machine can offer now: bundled checkpoints, their random-init twins,
    raw pixels, and the transformers models in the local cache."""
    cache = resources.hf_cache_dir()
    hf = [EncoderOption(f"hf:{repo}", f"{resources.hf_name(repo)} (transformers, local cache)",
                        "foundation", stamp=cache) for repo in resources.local_hf_models()]
    raw = EncoderOption("raw", "Raw pixels (no learning)", "raw")
    return [*_checkpoint_options(), raw, *hf]


def default_encoder(options: Sequence[EncoderOption], preferred: Sequence[str]) -> str:
    """The first of ``preferred`` keys present in ``options``, else the first option's key."""
    keys = [o.key for o in options]
    return next((k for k in preferred if k in keys), keys[0])


def encoder_param(key: str, options: Sequence[EncoderOption], preferred: Sequence[str]) -> Param:
    """The shareable state of ``encoder_picker(key=key)``."""
    return Param(key, default_encoder(options, preferred),
                 options=tuple(o.key for o in options))


def unavailable_message(asked: str, options: Sequence[EncoderOption], shown: str) -> str:
    """Why the encoder ``asked`` for (e.g. by a shared link) is not among ``options``, as
    Markdown: ``asked`` is shown literally (:func:`app.text.literal`), and no server path."""
    kind, _, name = asked.partition(":")
    if kind == "hf":
        if name not in resources.local_hf_models():
            return (f"{literal(resources.hf_name(name))} ({literal(name)}) is not in this "
                    f"server's Hugging Face cache, so it is not offered; showing {shown} "
                    "instead. Nothing is downloaded: whoever runs the server can copy the "
                    "model's cache folder there (see ssl_core.models.hf).")
        return (f"{literal(resources.hf_name(name))} is not offered on this page; showing {shown} "
                "instead.")
    if kind in ("ckpt", "random"):
        return (f"The bundled checkpoint {literal(name)} is not on this server, so it is not "
                f"offered; showing {shown} instead.")
    return f"The encoder {literal(asked)} is not known here; showing {shown} instead."


def missing_checkpoints_message() -> str:
    """What to say when no bundled checkpoint exists."""
    return ("No bundled checkpoint on this server: the trained encoders (SimCLR, DINO, MAE) "
            "appear here once assets/checkpoints/<name>/ holds model.safetensors and "
            "config.json (train one with `python3 -m ssl_core.pretrain`). Raw pixels are "
            "offered meanwhile.")


def encoder_picker(*, key: str, options: Sequence[EncoderOption], label: str = "Encoder",
                   explain_missing: bool = True) -> EncoderOption:
    """A selectbox (``key``) over ``options``; returns the chosen :class:`EncoderOption`.

    Says so (``st.info``) when the URL asked for an encoder that is not offered (a link made on
    a machine with DINOv2 in its cache, or with another checkpoint), and, with
    ``explain_missing``, when no bundled checkpoint exists at all.
    """
    by_key = {o.key: o for o in options}
    chosen = st.selectbox(label, list(by_key), key=key, format_func=lambda k: by_key[k].label)
    option = by_key[chosen]
    st.caption(f"Takes {option.accepts}.")
    asked = st.query_params.get(key)
    if asked and asked not in by_key:
        st.info(unavailable_message(asked, options, option.label), icon=":material/info:")
    if explain_missing and not any(o.kind == "ssl" for o in options):
        st.info(missing_checkpoints_message(), icon=":material/info:")
    return option


@st.cache_resource(show_spinner="Building the random-init encoder…")
def _random_encoder(path: str, stamp: str) -> nn.Module:
    encoder = random_init_encoder(read_json(Path(path) / CONFIG_FILE), seed=RANDOM_SEED)
    return encoder.to(resources.device())


@st.cache_resource(show_spinner=False)
def _raw_pixels() -> nn.Module:
    return RawPixels().eval()




def load_encoder(option: EncoderOption) -> nn.Module:
    """The option's encoder: loaded once per process, eval mode, shared (never modify it).

    Raises ``CheckpointError`` for an unreadable checkpoint and ``ModelNotAvailableError`` for a
    transformers model that left the cache.
    """
    kind, _, name = option.key.partition(":")
    if kind == "raw":
        return _raw_pixels()
    if kind == "hf":
        return resources.hf_encoder(name)
    path = resources.bundled_checkpoint(name)
    if path is None:
        raise CheckpointError(f"the bundled checkpoint {name!r} is gone from this server; "
                              "reload the page")
    if kind == "ckpt":
        encoder = resources.load_bundled_encoder(name)
        assert encoder is not None  # bundled_checkpoint(name) was found just above
        return encoder
    try:
        return _random_encoder(str(path), option.stamp)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint {name!r}: cannot rebuild its backbone "
                              f"({type(error).__name__})") from error


def option_by_key(key: str) -> EncoderOption:
    """The option of ``key`` among those offered now (CheckpointError once it is gone)."""
    for option in encoder_options():
        if option.key == key:
            return option
    raise CheckpointError(f"encoder {key!r} is no longer available; reload the page")
