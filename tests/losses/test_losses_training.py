"""Every loss actually trains: a tiny conv net learns to segment bright squares with each of them.

An honest end-to-end check of the gradients' direction (gradcheck only checks their accuracy): after a short
Adam run from the same initial weights, every loss reaches a high foreground IoU on the training images.
"""

from __future__ import annotations

import pytest
import torch

from lossadvisor.losses import LOSSES, build_loss

STEPS = 60
MIN_IOU = 0.8


def _squares(n: int = 8, size: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    images = torch.rand(n, 1, size, size, generator=g) * 0.4
    targets = torch.zeros(n, size, size, dtype=torch.long)
    for i in range(n):
        side = int(torch.randint(3, 9, (1,), generator=g))
        y, x = (int(v) for v in torch.randint(0, size - side, (2,), generator=g))
        targets[i, y : y + side, x : x + side] = 1
    images = images + 0.6 * targets.unsqueeze(1)
    return images, targets


def _net(channels: int) -> torch.nn.Module:
    torch.manual_seed(1)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, channels, 3, padding=1)
    )


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("name", list(LOSSES))
def test_each_loss_learns_a_simple_segmentation(name, channels):
    images, targets = _squares()
    params = {"pos_weight": 3.0} if name == "weighted_ce" and channels == 1 else {}
    if name == "weighted_ce" and channels == 2:
        params = {"class_weights": [1.0, 3.0]}
    loss_fn = build_loss(name, **params)
    net = _net(channels)
    optimiser = torch.optim.Adam(net.parameters(), lr=0.03)
    for _ in range(STEPS):
        optimiser.zero_grad()
        loss = loss_fn(net(images), targets)
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        logits = net(images)
        pred = logits[:, 0] > 0 if channels == 1 else logits.argmax(1) == 1
    truth = targets == 1
    iou = float((pred & truth).sum()) / float((pred | truth).sum())
    assert iou >= MIN_IOU, f"{name}: IoU {iou:.2f} after {STEPS} steps"
