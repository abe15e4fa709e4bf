"""ReID training data: Market-layout crops, the reference's augmentations, and P x K batches.

Crops are read on demand (a dataset of AIC24's size does not fit in memory) and handed to the
model as RGB 0..255, the same input the exported ONNX model takes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from mcpt.datasets.market import Crop

PAD = 10  # pixels of padding before the random crop (strong-baseline ReID)


@dataclass(frozen=True)
class Augment:
    flip: float = 0.5
    pad_crop: bool = True
    erase: float = 0.5  # random erasing probability (the reference's REA)


def read_rgb(crop: Crop, height: int, width: int) -> np.ndarray:
    img = cv2.imread(str(crop.path), cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f"{crop.path}: not an image")
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)[:, :, ::-1]


def augment(img: np.ndarray, aug: Augment, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    if rng.random() < aug.flip:
        img = img[:, ::-1]
    if aug.pad_crop:
        padded = cv2.copyMakeBorder(np.ascontiguousarray(img), PAD, PAD, PAD, PAD, cv2.BORDER_CONSTANT, value=0)
        y, x = rng.integers(0, 2 * PAD + 1, size=2)
        img = padded[y : y + h, x : x + w]
    img = np.array(img, np.float32)
    if rng.random() < aug.erase:
        _erase(img, rng)
    return img


def _erase(img: np.ndarray, rng: np.random.Generator) -> None:
    """Zhong et al.'s random erasing: a rectangle of 2-40 % of the area, aspect 0.3-3.3, random pixels."""
    h, w = img.shape[:2]
    for _ in range(20):
        area = rng.uniform(0.02, 0.4) * h * w
        aspect = np.exp(rng.uniform(np.log(0.3), np.log(1 / 0.3)))
        eh, ew = int(np.sqrt(area * aspect) + 0.5), int(np.sqrt(area / aspect) + 0.5)
        if 0 < eh < h and 0 < ew < w:
            y, x = rng.integers(0, h - eh), rng.integers(0, w - ew)
            img[y : y + eh, x : x + ew] = rng.uniform(0, 255, size=(eh, ew, 3))
            return


class CropDataset(torch.utils.data.Dataset):
    def __init__(
        self, crops: list[Crop], labels: list[int], height: int, width: int, aug: Augment | None, seed: int = 0
    ) -> None:
        self.crops, self.labels = crops, labels
        self.height, self.width, self.aug, self.seed = height, width, aug, seed
        self.calls = 0

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, i: int):
        img = read_rgb(self.crops[i], self.height, self.width)
        if self.aug is not None:
            self.calls += 1
            img = augment(img, self.aug, np.random.default_rng((self.seed, i, self.calls)))
        x = torch.from_numpy(np.ascontiguousarray(img, np.float32).transpose(2, 0, 1))
        return x, self.labels[i]


class PKSampler(torch.utils.data.Sampler):
    """Batches of P identities x K crops each (an identity with fewer crops repeats some): what batch-hard
    triplet mining needs. An epoch draws every identity about len(dataset) / (P * K) * P times."""

    def __init__(self, labels: list[int], p: int, k: int, seed: int = 0) -> None:
        self.by_label: dict[int, list[int]] = {}
        for i, lab in enumerate(labels):
            self.by_label.setdefault(lab, []).append(i)
        self.p, self.k = min(p, len(self.by_label)), k
        self.batches = max(1, len(labels) // (self.p * self.k))
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.batches * self.p * self.k

    def __iter__(self):
        ids = np.array(sorted(self.by_label))
        for _ in range(self.batches):
            for lab in self.rng.choice(ids, self.p, replace=False).tolist():
                pool = self.by_label[lab]
                yield from self.rng.choice(pool, self.k, replace=len(pool) < self.k).tolist()
