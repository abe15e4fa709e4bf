"""Each camera's systematic floor offset, learnt online from the people several cameras see at once.

A hand-made calibration is a few tenths of a metre off, the same way for everyone a camera sees
in one area. Where a person is seen by two or more cameras, each camera's point minus the fused
position (the others' consensus) is that camera's error plus noise; a slow running sum of it,
subtracted from the camera's points before matching and fusing,, cancels the part of the error the
cameras do not share. Offsets are relative to the cameras that see the same people: a whole room
that is off together stays off (nothing can tell).
"""

from __future__ import annotations

import numpy as np


class CameraOffsets:
    def __init__(self, rate: float, max_m: float) -> None:
        self.rate = rate  # share of each residual taken into its camera's offset
        self.max_m = max_m  # an offset never grows beyond this (a camera that far off needs a new calibration)
        self.offset: dict[int, np.ndarray] = {}
        self.samples: dict[int, int] = {}

    def correct(self, cams: np.ndarray, world: np.ndarray) -> np.ndarray:
        """The cameras' floor points with their offsets taken off."""
        if not self.offset:
            return world
        present, inverse = np.unique(cams, return_inverse=True)
        shift = np.array([self.offset.get(c, (0.0, 0.0)) for c in present.tolist()], np.float64).reshape(-1, 2)
        return world - shift[inverse]

    def learn(self, cams: np.ndarray, resid: np.ndarray) -> None:
        """``resid``: per observation of an identity several cameras saw this step, its (corrected) point
        minus the mean of that identity's points. Each residual moves its camera's offset by ``rate`` of
        itself: the residuals of one identity sum to zero, so the cameras that see the same people
        share out their disagreement and never drift together."""
        present, inverse = np.unique(cams, return_inverse=True)
        sums = np.zeros((len(present), 2))
        np.add.at(sums, inverse, resid)
        counts = np.bincount(inverse, minlength=len(present))
        for cam, total, n in zip(present.tolist(), sums, counts.tolist(), strict=True):
            off = self.offset.get(cam, np.zeros(2)) + self.rate * total
            norm = float(np.sqrt(off @ off))
            if norm > self.max_m:
                off *= self.max_m / norm
            self.offset[cam] = off
            self.samples[cam] = self.samples.get(cam, 0) + n

    def table(self) -> list[tuple[int, float, float, int]]:
        """(camera, dx, dy, observations learnt from) per camera, in camera order."""
        return [(c, float(o[0]), float(o[1]), self.samples[c]) for c, o in sorted(self.offset.items())]
