"""ReID embeddings on ONNX Runtime: crop each box, resize to the model's input, one batch per time step."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mcpt.errors import InputError
from mcpt.models.onnx_session import batch_axis, open_session, run_in_chunks


class ReIDModel:
    def __init__(
        self,
        path: str | Path,
        width: int = 128,
        height: int = 256,
        max_batch: int = 64,
        threads: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.session = open_session(path, threads)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        if len(inp.shape) != 4:
            raise InputError(path, f"expected an image input [B, 3, H, W], got {inp.shape}", field=inp.name)
        self.height = inp.shape[2] if isinstance(inp.shape[2], int) else height
        self.width = inp.shape[3] if isinstance(inp.shape[3], int) else width
        self.fixed_batch = batch_axis(self.session)
        self.max_batch = self.fixed_batch or max_batch
        out = self.session.get_outputs()[0]
        if len(out.shape) != 2:
            raise InputError(path, f"expected an embedding output [B, D], got {out.shape}", field=out.name)
        self.dim = out.shape[1] if isinstance(out.shape[1], int) else None

    def crops(self, frame: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(N, 3, H, W) RGB 0..255 crops of x y w h boxes (clipped to the frame)."""
        h, w = frame.shape[:2]
        out = np.zeros((len(boxes), 3, self.height, self.width), np.float32)
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        for i, (x, y, bw, bh) in enumerate(boxes):
            x1, y1 = int(max(0, np.floor(x))), int(max(0, np.floor(y)))
            x2, y2 = int(min(w, np.ceil(x + bw))), int(min(h, np.ceil(y + bh)))
            if x2 - x1 < 2 or y2 - y1 < 2:
                continue
            crop = cv2.resize(frame[y1:y2, x1:x2], (self.width, self.height), interpolation=cv2.INTER_LINEAR)
            out[i] = crop[:, :, ::-1].transpose(2, 0, 1)
        return out

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """L2-normalised (N, D) embeddings of (N, 3, H, W) crops."""
        if not len(crops):
            return np.zeros((0, self.dim or 1), np.float32)
        e = run_in_chunks(self.session, self.input_name, crops, self.max_batch, self.fixed_batch).astype(np.float32)
        return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
