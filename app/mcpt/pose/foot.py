"""Where a person whose feet are hidden stands: the foot row extrapolated from the visible keypoints.

The reference method's use (a) of pose. A desk, a shelf or the image's bottom edge hides the legs;
the detector's box then ends at the occluder, and its bottom edge is not where the person stands.
The visible body tells how far below the feet are: the torso's height in the image (shoulders to
hips) sets the scale, and body-ratio priors (thigh and shank-to-sole over torso, head to shoulders
over torso) carry it down from the lowest visible level. The priors start from anthropometric
averages and follow the people this camera sees whole (exponential average), as the reference
updates its priors from fully visible detections.

Lengths are image rows (vertical differences): a camera looking down foreshortens all of one
person's segments alike, so their ratios hold in rows where they would not in pixel lengths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcpt.config import PoseUseConfig
from mcpt.pose.keypoints import ANKLES, BODY, HEAD, HIPS, KNEES, SHOULDERS

# Standing adult, as fractions of stature (Drillis & Contini; Winter, Biomechanics of Human Movement):
# shoulder 0.818, hip joint 0.530, knee 0.285, sole 0, nose ~0.93. Ratios to the torso (0.288):
PRIOR_THIGH = 0.85  # hip -> knee
PRIOR_SHANK = 0.99  # knee -> sole
PRIOR_HEAD = 0.39  # head points (their mean) -> shoulders
MIN_TORSO_PX = 6.0  # a smaller torso is too few pixels to scale a body from
RATIO_RANGE = (0.3, 2.5)  # a taught ratio outside this is a bad pose, not a body


def _level(kp: np.ndarray, which: np.ndarray, conf: float) -> np.ndarray:
    """(N,) mean row of the confident keypoints among ``which`` (NaN where none is)."""
    c = np.nan_to_num(kp[:, which, 2], nan=0.0) > conf
    y = np.where(c, kp[:, which, 1], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c.any(axis=1), y.sum(axis=1) / c.sum(axis=1), np.nan)


@dataclass
class FootEstimate:
    foot_y: np.ndarray  # (N,) image row of the feet; NaN where the box's bottom stands (feet seen, or no pose)
    stature_px: np.ndarray  # (N,) the person's estimated height in rows where extrapolated (NaN elsewhere)


@dataclass
class PoseFoot:
    """One camera's foot extrapolation and its body-ratio priors."""

    cfg: PoseUseConfig
    thigh: float = PRIOR_THIGH
    shank: float = PRIOR_SHANK
    head: float = PRIOR_HEAD
    taught: int = 0  # people the priors have learnt from

    def estimate(self, kp: np.ndarray, boxes: np.ndarray, image_height: int) -> FootEstimate:
        """Foot rows for (N, 17, 3) keypoints of x y w h ``boxes``; teaches the priors from whole people."""
        n = len(kp)
        foot = np.full(n, np.nan)
        stature = np.full(n, np.nan)
        if not n:
            return FootEstimate(foot, stature)
        c = self.cfg
        kc = c.keypoint_conf
        bottom = boxes[:, 1] + boxes[:, 3]
        self._teach(kp, bottom, image_height)
        ankle_seen = (np.nan_to_num(kp[:, ANKLES, 2], nan=0.0) > c.ankle_conf).any(axis=1)
        sh, hip, knee, head = (_level(kp, w, kc) for w in (SHOULDERS, HIPS, KNEES, HEAD))
        torso = hip - sh
        from_head = (sh - head) / self.head
        torso = np.where(np.isfinite(torso) & (torso >= MIN_TORSO_PX), torso, from_head)
        torso = np.where(torso >= MIN_TORSO_PX, torso, np.nan)
        # the lowest visible level and the body left below it, in torsos
        below_knee = knee + self.shank * torso
        below_hip = hip + (self.thigh + self.shank) * torso
        below_sh = sh + (1.0 + self.thigh + self.shank) * torso
        est = np.where(np.isfinite(knee), below_knee, np.where(np.isfinite(hip), below_hip, below_sh))
        use = ~ankle_seen & np.isfinite(est)
        # the feet are never above the box's bottom edge: the box holds the visible body
        foot[use] = np.maximum(est[use], bottom[use])
        top = np.where(np.isfinite(head), head - 0.2 * torso, sh - (self.head + 0.2) * torso)
        stature[use] = foot[use] - top[use]
        return FootEstimate(foot, stature)

    def _teach(self, kp: np.ndarray, bottom: np.ndarray, image_height: int) -> None:
        """Priors from people whose 13 body points are all clear and whose feet are inside the image."""
        c = self.cfg
        whole = (np.nan_to_num(kp[:, BODY, 2], nan=0.0) > c.ratio_conf).all(axis=1) & (bottom < image_height - 2.0)
        if not whole.any():
            return
        k = kp[whole]
        sh, hip, knee = k[:, SHOULDERS, 1].mean(1), k[:, HIPS, 1].mean(1), k[:, KNEES, 1].mean(1)
        head = k[:, HEAD, 1].mean(1)
        torso = hip - sh
        ok = torso >= MIN_TORSO_PX
        lo, hi = RATIO_RANGE
        for t, s, h, kn, b, hd in zip(torso[ok], sh[ok], hip[ok], knee[ok], bottom[whole][ok], head[ok], strict=True):
            ratios = ((kn - h) / t, (b - kn) / t, (s - hd) / t)
            if not all(lo <= r <= hi for r in ratios):
                continue
            a = c.ratio_ema
            self.thigh = a * self.thigh + (1 - a) * ratios[0]
            self.shank = a * self.shank + (1 - a) * ratios[1]
            self.head = a * self.head + (1 - a) * ratios[2]
            self.taught += 1
