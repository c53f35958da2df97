"""The lesson's three exercises as "predict first" questions, answered from the measured results.

Each builder takes the typed result of the experiment that answers it and returns an
:class:`Exercise`: the question, the choices, which choice the measurement supports and the
reason, with the measured numbers. The answer is computed, never typed in: re-run the experiment
with different numbers and the answer follows. ``app.predict`` draws them.
"""

from __future__ import annotations

from dataclasses import dataclass

from lesson.experiments.dino_collapse import DinoCollapseResult
from lesson.experiments.hard_exercise import HardExerciseResult
from lesson.experiments.infonce_tau import InfonceTauResult
from lesson.verdicts import hard_exercise_verdict, hard_pairs

__all__ = ["Exercise", "centring_exercise", "hard_exercise", "temperature_exercise"]

STEADY = 0.1  # a change under 10 % of the larger value counts as "about the same"
ONE_DIMENSION = 0.9  # dominant-dimension share at which the teacher has collapsed to one dim
UNIFORM = 0.9  # teacher entropy / log K at which it has collapsed to uniform


@dataclass(frozen=True)
class Exercise:
    """A question whose answer a measurement gives: ``choices[answer]`` is what was measured."""

    key: str
    title: str
    question: str
    choices: tuple[str, ...]
    answer: int
    reason: str
    command: str  # the command that measured it

    def __post_init__(self) -> None:
        if not 0 <= self.answer < len(self.choices):
            raise ValueError(f"answer {self.answer} is not one of {len(self.choices)} choices")


def _trend(before: float, after: float) -> int:
    """0 falls, 1 rises, 2 about the same (within :data:`STEADY` of the larger)."""
    if abs(after - before) <= STEADY * max(abs(before), abs(after)):
        return 2
    return 0 if after < before else 1


def temperature_exercise(result: InfonceTauResult) -> Exercise:
    """Exercise 1, the temperature sweep: does the aligned pairs' loss rise or fall as τ drops?"""
    taus = list(result.taus)
    lo, hi = taus.index(min(taus)), taus.index(max(taus))
    aligned, random = result.synthetic.aligned, result.synthetic.random
    answer = _trend(aligned[hi], aligned[lo])
    words = ("falls", "rises", "stays about the same")
    reason = (
        f"Measured on toy batches (N = {result.synthetic.n}, D = {result.synthetic.d}, mean of "
        f"{result.synthetic.seeds}): with aligned pairs the loss {words[answer]} from "
        f"{aligned[hi]:.3g} at τ = {taus[hi]:g} to {aligned[lo]:.3g} at τ = {taus[lo]:g}; "
        f"with random pairs it {words[_trend(random[hi], random[lo])]} from {random[hi]:.3g} "
        f"to {random[lo]:.3g}. Dividing the similarities by a small τ stretches their gaps: "
        "when the positive is the most similar, the softmax puts almost all its weight on it "
        "and −log of that weight goes to 0; when it is not, the gap is stretched against it.")
    return Exercise(
        key="temperature", title="Exercise: the temperature sweep",
        question=(f"Aligned pairs (each view close to its positive). As τ drops from "
                  f"{taus[hi]:g} to {taus[lo]:g}, what does the InfoNCE loss do?"),
        choices=("It falls", "It rises", "It stays about the same"),
        answer=answer, reason=reason, command="python3 -m lesson.experiments.infonce_tau")


def centring_exercise(result: DinoCollapseResult) -> Exercise:
    """Exercise 2, the DINO centre buffer: what does the teacher do without centring?"""
    variant = result.variants.get("no_centering")
    if variant is None:
        raise ValueError("the dino_collapse result has no 'no_centering' run; re-run "
                         "`python3 -m lesson.experiments.dino_collapse`")
    last = variant.last
    share = float(last.get("dominant_dim_share") or 0.0)
    entropy, top = float(last.get("teacher_entropy") or 0.0), float(last.get("max_entropy") or 1)
    if share >= ONE_DIMENSION:
        answer = 1
    elif entropy >= UNIFORM * top:
        answer = 2
    else:
        answer = 0
    reason = (
        f"Measured ({result.steps} steps, sharpening on, centring off): at the end one output "
        f"dimension holds {share:.0%} of the teacher's probability mass and its entropy is "
        f"{entropy:.2f} of a possible {top:.2f} nats. Verdict of the run: "
        f"{variant.verdict.rstrip('. ')}. "
        "The centre buffer is a running mean of the teacher's outputs, subtracted before its "
        "softmax: a dimension that is high for every image is pushed back down. Without it, "
        "sharpening rewards piling the mass on whichever dimension leads, for every image.")
    return Exercise(
        key="centring", title="Exercise: the DINO centre buffer",
        question=("Switch centring off and keep sharpening (teacher temperature "
                  f"{(variant.config or result.recipe).get('teacher_temp', '?')}). What does the "
                  "teacher's output become?"),
        choices=("It stays healthy: spread over many dimensions, different for each image",
                 "It collapses to one dimension: one output takes all the mass for every image",
                 "It collapses to uniform: every dimension equally likely for every image"),
        answer=answer, reason=reason, command="python3 -m lesson.experiments.dino_collapse")


def hard_exercise(result: HardExerciseResult) -> Exercise:
    """Exercise 3, MAE vs supervised on 1,000 images: who wins, at short and long budgets?

    Judged on the backbone measured at the most budgets (shortest vs longest)."""
    pairs = {b: p for b, p in hard_pairs(result).items() if p}
    if not pairs:
        raise ValueError("the hard_exercise result has no budget with both an MAE and a "
                         "supervised row; run `python3 -m lesson.experiments.hard_exercise`")
    backbone, rows = max(pairs.items(), key=lambda item: (len(item[1]), item[1][-1][0]))
    short_mae, long_mae = rows[0][1] > rows[0][2], rows[-1][1] > rows[-1][2]
    answer = {(True, True): 0, (False, False): 1, (True, False): 2, (False, True): 3}[
        (short_mae, long_mae)]
    reason = (f"Measured on the {backbone} ({rows[0][0]} vs {rows[-1][0]} epochs): "
              + hard_exercise_verdict(result))
    return Exercise(
        key="hard", title="Exercise: MAE against supervised training on 1,000 images",
        question=(f"{result.labelled_subset:,} labelled Fashion-MNIST images. MAE pretraining "
                  "on them + a linear probe, or the same network trained with the labels from "
                  "scratch: which wins, with a short and with a long training budget?"),
        choices=("MAE + probe wins at every budget",
                 "Supervised wins at every budget",
                 "MAE + probe wins short, supervised wins long",
                 "Supervised wins short, MAE + probe wins long"),
        answer=answer, reason=reason, command="python3 -m lesson.experiments.hard_exercise")
