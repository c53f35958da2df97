from __future__ import annotations

import time

import pytest

from lesson.live.framed import framed_steps


class FakeTrainer:
    """The part of ssl_core.train.Trainer the loop uses: total_steps, done, steps(max_steps)."""

    def __init__(self, total_steps: int) -> None:
        self.total_steps, self.step = total_steps, 0

    @property
    def done(self) -> bool:
        return self.step >= self.total_steps

    def steps(self, max_steps: int):
        for _ in range(max_steps):
            self.step += 1
            yield {"step": self.step, "loss": 1.0 / self.step}


def _run(total: int, every: int, time_limit_s: float | None) -> tuple[list, list]:
    measured = []

    def frame(step, loss, *, done):
        measured.append(step)
        return {"step": step, "loss": loss, "done": done}

    frames = list(framed_steps(FakeTrainer(total), frame, every=every,
                               time_limit_s=time_limit_s, started=time.perf_counter()))
    return [(f["step"], f["done"]) for f in frames], measured


@pytest.mark.parametrize(("total", "every", "expected"), [
    (5, 2, [(0, False), (2, False), (4, False), (5, True)]),
    (4, 2, [(0, False), (2, False), (4, True)]),  # the last step is measured once, as the end
    (1, 10, [(0, False), (1, True)]),
])
def test_a_frame_at_the_start_every_few_steps_and_at_the_end(total, every, expected):
    frames, measured = _run(total, every, None)
    assert frames == expected
    assert measured == [step for step, _ in expected]


def test_the_time_limit_lets_the_first_step_run_then_stops():
    assert _run(100, 10, 1e-9)[0] == [(0, False), (1, True)]


def test_a_limit_right_after_a_frame_ends_on_that_frame_without_measuring_it_again():
    frames, measured = _run(100, 1, 1e-9)
    assert frames == [(0, False), (1, False), (1, True)]
    assert measured == [0, 1]
