"""Steps from frames that arrive unevenly: the same frames per step as the lockstep rule, whatever the arrival order."""

from dataclasses import dataclass

import numpy as np

from mcpt.sources.align import half_step, nearest_frame
from mcpt.sources.assembler import StepAssembler


@dataclass
class Item:
    camera: int
    index: int
    timestamp: float


def lockstep(rates: dict[int, float], counts: dict[int, int], fps: float) -> list[dict[int, int]]:
    """The reference: each camera's frames consumed in order with the rule the CPU reader uses."""
    streams = {c: iter([Item(c, i, i / rates[c]) for i in range(counts[c])]) for c in rates}
    pending = {c: next(s, None) for c, s in streams.items()}
    out, k = [], 0
    while any(v is not None for v in pending.values()):
        t = k / fps
        frames = {}
        for c in rates:
            best, pending[c] = nearest_frame(
                pending[c], lambda c=c: next(streams[c], None), t, half_step(fps), 1 / rates[c]
            )
            if best is not None:
                frames[c] = best.index
        if not frames and all(v is None for v in pending.values()):
            break
        out.append(frames)
        k += 1
    return out


def test_uneven_batches_give_the_lockstep_steps():
    rates, counts, fps = {1: 30.0, 2: 25.0, 3: 10.0}, {1: 300, 2: 240, 3: 80}, 10.0
    want = lockstep(rates, counts, fps)
    # frames arrive in batches round-robin with uneven shares: two of one camera and none of another
    rng = np.random.default_rng(0)
    queues = {c: [Item(c, i, i / rates[c]) for i in range(counts[c])] for c in rates}
    a = StepAssembler(list(rates), fps, {c: 1 / r for c, r in rates.items()})
    got = []
    while any(queues.values()):
        for c in rates:
            for _ in range(int(rng.integers(0, 4))):
                if queues[c]:
                    a.push(c, queues[c].pop(0))
            if not queues[c]:
                a.close(c)
        got += [{c: it.index for c, it in s.items.items()} for s in a.steps()]
    a.close_all()
    got += [{c: it.index for c, it in s.items.items()} for s in a.steps()]
    assert got == want
    # 10 s of video; at 0.3 s frames 9 (30 fps), 7 (25 fps: 0.28 s and 0.32 s tie, the earlier wins) and 3
    assert len(got) == 100 and got[3] == {1: 9, 2: 7, 3: 3}


def test_a_step_waits_for_a_slow_file_camera_but_not_for_an_ended_one():
    a = StepAssembler([1, 2], 10.0)
    for i in range(5):
        a.push(1, Item(1, i, i / 10))
    assert [s.index for s in a.steps()] == []  # camera 2 may still deliver frame 0
    a.close(2)
    assert [sorted(s.items) for s in a.steps()] == [[1], [1], [1], [1]]  # the last frame waits for its successor


def test_live_steps_go_on_after_the_wait_and_count_late_frames():
    now = [0.0]
    a = StepAssembler([1, 2], 10.0, max_wait_s=0.5, clock=lambda: now[0])
    for i in range(3):
        a.push(1, Item(1, i, i / 10))
    assert list(a.steps()) == []
    now[0] = 0.6  # camera 2 is half a second late: the steps go on without it
    steps = list(a.steps())
    assert [sorted(s.items) for s in steps] == [[1], [1]]
    a.push(2, Item(2, 0, 0.0))  # its frame for step 0 comes too late
    assert a.stats.late == {2: 1}
