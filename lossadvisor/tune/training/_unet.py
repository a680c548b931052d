"""A compact U-Net built for short trials on a CPU.

The encoder starts with a stride-2 convolution, as MONAI's ``UNet`` does, so no 3x3 convolution runs at full
resolution: this is what keeps a trial at 128 px near 100 images/s on one CPU core (a network with
full-resolution 3x3 convolutions measured about 10x slower). With the default widths 16-32-64-128 it has
about 0.43 M parameters: enough capacity to separate the losses in a few hundred optimiser steps, small
enough that the loss, not the architecture, decides the outcome (Ronneberger et al. 2015, "U-Net").

The same network runs on volumes with ``spatial_dims=3`` (:class:`CompactUNet3d`): 3x3x3 convolutions, the
same widths and the same stride-2 stem, instance normalisation by default (nnU-Net's choice: 3-D batches
hold two patches, too few for batch statistics), about 1.2 M parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from lossadvisor.errors import ConfigError

DEFAULT_CHANNELS: tuple[int, ...] = (16, 32, 64, 128)
NORMS = ("batch", "group", "instance", "none")
GROUP_NORM_GROUPS = 8  # GroupNorm groups (Wu & He 2018); channels must be divisible by it


def _norm(kind: str, channels: int, dims: int = 2) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels) if dims == 2 else nn.BatchNorm3d(channels)
    if kind == "group":
        return nn.GroupNorm(min(GROUP_NORM_GROUPS, channels), channels)
    if kind == "instance":
        return (nn.InstanceNorm2d if dims == 2 else nn.InstanceNorm3d)(channels, affine=True)
    return nn.Identity()


def _conv_block(c_in: int, c_out: int, *, stride: int, norm: str, dims: int = 2) -> nn.Sequential:
    conv = nn.Conv2d if dims == 2 else nn.Conv3d
    return nn.Sequential(
        conv(c_in, c_out, 3, stride=stride, padding=1, bias=norm == "none"),
        _norm(norm, c_out, dims),
        nn.ReLU(inplace=True),
    )


class CompactUNet(nn.Module):
    """U-Net with a stride-2 stem, one skip connection per level and a 1x1 head over features and pixels.

    Args:
        in_channels: Image channels (3 for RGB; grey images are repeated to 3 by the data cache).
        num_classes: Output channels: 1 for binary (sigmoid), the number of classes for multi-class (softmax).
        channels: Width of each level, coarse levels last; the depth is ``len(channels)``. The input side must
            be divisible by ``2 ** len(channels)``.
        norm: "batch" (the 2-D default), "group" (steadier with batches of 1-2), "instance" (the 3-D default)
            or "none".
        spatial_dims: 2 for images ``(N, C, H, W)``, 3 for volumes ``(N, C, D, H, W)``.

    Example:
        >>> net = CompactUNet(3, 1)
        >>> net(torch.zeros(2, 3, 64, 64)).shape
        torch.Size([2, 1, 64, 64])
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        channels: Sequence[int] = DEFAULT_CHANNELS,
        norm: str | None = None,
        spatial_dims: int = 2,
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ConfigError(f"CompactUNet takes spatial_dims 2 or 3; got {spatial_dims}.")
        norm = norm or ("batch" if spatial_dims == 2 else "instance")
        dims = self.spatial_dims = spatial_dims
        conv_up = nn.ConvTranspose2d if dims == 2 else nn.ConvTranspose3d
        channels = tuple(int(c) for c in channels)
        if in_channels < 1 or num_classes < 1:
            raise ConfigError(
                f"CompactUNet needs in_channels >= 1 and num_classes >= 1; "
                f"got {in_channels} and {num_classes}."
            )
        if len(channels) < 2 or any(c < 1 for c in channels):
            raise ConfigError(
                "The 'channels' of CompactUNet must be at least two positive widths, e.g. (16, 32, 64, 128); "
                f"got {channels}."
            )
        if norm not in NORMS:
            raise ConfigError(f"The 'norm' of CompactUNet must be one of {NORMS}; got {norm!r}.")
        self.depth = len(channels)
        self.down = nn.ModuleList()
        c_prev = in_channels
        for c in channels:
            self.down.append(
                nn.Sequential(
                    _conv_block(c_prev, c, stride=2, norm=norm, dims=dims),
                    _conv_block(c, c, stride=1, norm=norm, dims=dims),
                )
            )
            c_prev = c
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for c_skip, c_deep in zip(channels[-2::-1], channels[:0:-1], strict=True):
            self.up.append(conv_up(c_deep, c_skip, 2, stride=2))
            self.merge.append(_conv_block(2 * c_skip, c_skip, stride=1, norm=norm, dims=dims))
        self.to_full = nn.Sequential(
            conv_up(channels[0], channels[0], 2, stride=2),
            _norm(norm, channels[0], dims),
            nn.ReLU(inplace=True),
        )
        # A 1x1 head over the upsampled features and the raw pixels: full-resolution detail at 1/9 of the cost
        # of a 3x3 block (measured 83 vs 44 images/s at 128 px on one core).
        self.head = (nn.Conv2d if dims == 2 else nn.Conv3d)(channels[0] + in_channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = 2**self.depth
        sides = tuple(x.shape[-self.spatial_dims :])
        if any(side % factor for side in sides):
            what = "image" if self.spatial_dims == 2 else "patch"
            raise ConfigError(
                f"CompactUNet of depth {self.depth} needs {what} sides divisible by {factor}; got "
                f"{sides}. Choose --size or --crop as a multiple of {factor}."
            )
        skips = []
        h = x
        for block in self.down:
            h = block(h)
            skips.append(h)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1]), strict=True):
            h = merge(torch.cat([up(h), skip], dim=1))
        h = self.to_full(h)
        return self.head(torch.cat([h, x], dim=1))


class CompactUNet3d(CompactUNet):
    """:class:`CompactUNet` on volumes ``(N, C, D, H, W)``; each patch side divisible by ``2 ** depth``.

    Example:
        >>> net = CompactUNet3d(1, 3)
        >>> net(torch.zeros(1, 1, 16, 32, 16)).shape
        torch.Size([1, 3, 16, 32, 16])
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        channels: Sequence[int] = DEFAULT_CHANNELS,
        norm: str = "instance",
    ) -> None:
        super().__init__(in_channels, num_classes, channels=channels, norm=norm, spatial_dims=3)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
