"""RRDBNet, the Real-ESRGAN generator, with the original checkpoints' parameter names.

Real weights (e.g. RealESRGAN_x4plus / x2plus) load from `.safetensors`, or from `.pth` through
`torch.load(weights_only=True)` so a hostile pickle cannot run code. We own this ~80-line
architecture rather than depend on spandrel, whose import pulls torchvision (see requirements-gpu.txt).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F


class _DenseBlock(nn.Module):
    def __init__(self, filters: int, growth: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(filters, growth, 3, 1, 1)
        self.conv2 = nn.Conv2d(filters + growth, growth, 3, 1, 1)
        self.conv3 = nn.Conv2d(filters + 2 * growth, growth, 3, 1, 1)
        self.conv4 = nn.Conv2d(filters + 3 * growth, growth, 3, 1, 1)
        self.conv5 = nn.Conv2d(filters + 4 * growth, filters, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class _RRDB(nn.Module):
    def __init__(self, filters: int, growth: int) -> None:
        super().__init__()
        self.rdb1 = _DenseBlock(filters, growth)
        self.rdb2 = _DenseBlock(filters, growth)
        self.rdb3 = _DenseBlock(filters, growth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """x2 models fold the input 2x2 into channels first (pixel-unshuffle), as Real-ESRGAN x2plus does."""

    def __init__(self, *, scale: int, filters: int = 64, blocks: int = 23, growth: int = 32) -> None:
        super().__init__()
        if scale not in (2, 4):
            raise ValueError("RRDBNet supports scale 2 or 4")
        self.scale = scale
        in_channels = 3 * (4 if scale == 2 else 1)
        self.conv_first = nn.Conv2d(in_channels, filters, 3, 1, 1)
        self.body = nn.Sequential(*[_RRDB(filters, growth) for _ in range(blocks)])
        self.conv_body = nn.Conv2d(filters, filters, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(filters, filters, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(filters, filters, 3, 1, 1)
        self.conv_hr = nn.Conv2d(filters, filters, 3, 1, 1)
        self.conv_last = nn.Conv2d(filters, 3, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = F.pixel_unshuffle(x, 2) if self.scale == 2 else x
        feat = self.conv_first(feat)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> RRDBNet:
        """Infer the shape (scale, width, depth) from the checkpoint itself."""
        if "params_ema" in state:
            state = state["params_ema"]
        elif "params" in state:
            state = state["params"]
        first = state["conv_first.weight"]
        scale = 2 if first.shape[1] == 12 else 4
        blocks = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"body\.(\d+)\.", k)))
        model = cls(
            scale=scale, filters=first.shape[0], blocks=blocks, growth=state["body.0.rdb1.conv1.weight"].shape[0]
        )
        model.load_state_dict(state, strict=True)
        return model

    @classmethod
    def from_file(cls, path: Path) -> RRDBNet:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
        return cls.from_state_dict(state).eval()
