"""What the picker is asked (:class:`PickerInputs`) and what it answers with: the options, the
scoring rules' shape (:class:`Rule`, :class:`Effect`), the scoring trail (:class:`Adjustment`)
and a ranked option (:class:`Recommendation`)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "BACKBONES",
    "COMPUTES",
    "DOMAINS",
    "GPUS_FOR_MANY",
    "LABELLED_TEST",
    "LABELLED_TRAIN",
    "METHODS",
    "METHOD_LABELS",
    "TASKS",
    "UNLABELLED_DATA",
    "Adjustment",
    "Effect",
    "PickerInputs",
    "Recommendation",
    "Rule",
]

COMPUTES = ("cpu", "one_gpu", "many_gpus")
TASKS = ("classification", "retrieval", "dense", "correspondence")
BACKBONES = ("vit", "cnn", "any")
DOMAINS = ("natural", "other")
# Option keys, in the order that breaks ties (what ssl_core runs directly comes before MoCo).
METHODS = ("dinov2_linear", "finetune", "mae", "dino", "simclr", "moco")
METHOD_LABELS: dict[str, str] = {
    "dinov2_linear": "DINOv2 off the shelf (frozen) + linear head",
    "finetune": "Supervised fine-tuning",
    "mae": "MAE pretraining",
    "dino": "DINO pretraining",
    "simclr": "SimCLR pretraining",
    "moco": "MoCo pretraining (not in ssl_core)",
}
GPUS_FOR_MANY = 8  # "many GPUs" means one node of 8; the commands pass --devices 8

# Placeholders in the commands: replace them with your folders (ssl_core.data.load_image_folder
# layouts: <class>/<image> for labelled sets, flat or <class>/<image> for pretraining).
UNLABELLED_DATA = "path/to/all_images"  # every image, labelled ones too (labels are ignored)
LABELLED_TRAIN = "path/to/labelled/train"
LABELLED_TEST = "path/to/labelled/test"


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be a whole number of images >= 0; got {value!r}")


@dataclass(frozen=True)
class PickerInputs:
    """What the picker needs to know about a project.

    ``n_unlabelled`` / ``n_labelled``: image counts (the labelled images can be used for
    pretraining too, so the pretraining set is their sum). ``compute``: ``"cpu"``, ``"one_gpu"``
    or ``"many_gpus"`` (one node of :data:`GPUS_FOR_MANY`); ``hours``: wall-clock hours on it.
    ``task``: ``"classification"``, ``"retrieval"``, ``"dense"`` (detection / segmentation) or
    ``"correspondence"`` (matching points or parts across images, video propagation).
    ``backbone``: ``"vit"``, ``"cnn"`` or ``"any"``. ``pretrained_allowed``: whether a public
    checkpoint (DINOv2) may be used. ``image_domain``: ``"natural"`` photos, or ``"other"``
    (medical, satellite, microscopy, grayscale documents...), where off-the-shelf features
    trained on photos lose part of their edge.
    """

    n_unlabelled: int
    n_labelled: int
    compute: str = "one_gpu"
    hours: float = 24.0
    task: str = "classification"
    backbone: str = "any"
    pretrained_allowed: bool = True
    image_domain: str = "natural"

    def __post_init__(self) -> None:
        _check_count("n_unlabelled", self.n_unlabelled)
        _check_count("n_labelled", self.n_labelled)
        # numpy integers and floats (from a widget or a table) are stored as plain Python numbers
        object.__setattr__(self, "n_unlabelled", int(self.n_unlabelled))
        object.__setattr__(self, "n_labelled", int(self.n_labelled))
        if self.n_unlabelled + self.n_labelled == 0:
            raise ValueError(
                "there are no images (n_unlabelled = n_labelled = 0); give at least one count > 0"
            )
        _check_choice("compute", self.compute, COMPUTES)
        if isinstance(self.hours, bool) or not isinstance(self.hours, numbers.Real):
            raise ValueError(f"hours must be a number of hours > 0; got {self.hours!r}")
        if not (math.isfinite(self.hours) and self.hours > 0):
            raise ValueError(f"hours must be a finite number of hours > 0; got {self.hours!r}")
        object.__setattr__(self, "hours", float(self.hours))
        _check_choice("task", self.task, TASKS)
        _check_choice("backbone", self.backbone, BACKBONES)
        if not isinstance(self.pretrained_allowed, bool):
            raise ValueError(
                f"pretrained_allowed must be True or False; got {self.pretrained_allowed!r}"
            )
        _check_choice("image_domain", self.image_domain, DOMAINS)

    @property
    def n_total(self) -> int:
        """Images available for self-supervised pretraining (labels ignored)."""
        return self.n_unlabelled + self.n_labelled

    @property
    def labelled_fraction(self) -> float:
        """Share of the images that carry a label, in [0, 1]."""
        return self.n_labelled / self.n_total

    @property
    def devices(self) -> int:
        """Accelerators the commands use (1 for a CPU: one process)."""
        return GPUS_FOR_MANY if self.compute == "many_gpus" else 1


@dataclass(frozen=True)
class Effect:
    """Points a rule gives one option, and why (a sentence citing a number or a paper)."""

    method: str
    points: float
    why: str


@dataclass(frozen=True)
class Rule:
    """A scoring rule: when ``applies(inputs)``, each effect adds its points to its option."""

    key: str
    when: str  # the condition in words, as the rule book shows it
    effects: tuple[Effect, ...]
    applies: Callable[[PickerInputs], bool] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Adjustment:
    """One line of an option's score: which rule gave how many points, and why."""

    rule: str
    method: str
    points: float
    why: str


@dataclass(frozen=True)
class Recommendation:
    """One ranked option.

    ``reasons`` are the published headline and the rules that raised the score; ``caveats`` the
    rules that lowered it plus what to watch for. ``command`` is a shell command line
    (``command_kind == "pretrain"``: ``python3 -m ssl_core.pretrain ...``) or a Python script
    (``"python"``: run it with ``python3 -``), or None (``"none"``) when ssl_core has nothing
    that runs this option; ``command_note`` says what the command does and what it does not.
    ``adjustments`` is the full scoring trail (``score == sum of their points``).
    """

    method: str
    label: str
    rank: int
    score: float
    reasons: tuple[str, ...]
    caveats: tuple[str, ...]
    command: str | None
    command_kind: str
    command_note: str
    adjustments: tuple[Adjustment, ...]


