"""The ReID losses of the reference's training (fast-reid SBS / the strong baseline)."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def smoothed_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, eps: float = 0.1) -> torch.Tensor:
    """Identity classification with label smoothing."""
    return F.cross_entropy(logits, labels, label_smoothing=eps)


def batch_hard_triplet(features: torch.Tensor, labels: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
    """For each anchor the farthest crop of its identity and the nearest of another (Hermans et al.);
    margin 0 is the soft margin log(1 + exp(d_ap - d_an)), as fast-reid SBS trains."""
    d = torch.cdist(features, features).clamp_min(1e-12)
    same = labels[:, None] == labels[None, :]
    d_ap = (d * same).max(dim=1).values
    d_an = (d + same * 1e6).min(dim=1).values
    if margin > 0:
        return F.relu(d_ap - d_an + margin).mean()
    return F.softplus(d_ap - d_an).mean()
