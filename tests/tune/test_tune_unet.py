from __future__ import annotations

import pytest
import torch

from lossadvisor.errors import ConfigError
from lossadvisor.tune import CompactUNet, count_parameters


def test_default_unet_is_compact_and_keeps_the_resolution():
    net = CompactUNet(3, 1)
    assert 200_000 <= count_parameters(net) <= 700_000  # compact: about 0.2-0.7 M parameters
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 1, 32, 32)


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
def test_depth_width_and_norm_are_configurable(norm):
    net = CompactUNet(1, 4, channels=(8, 16, 32), norm=norm)
    assert net(torch.zeros(1, 1, 24, 24)).shape == (1, 4, 24, 24)


def test_bad_options_name_the_option():
    with pytest.raises(ConfigError, match="'channels' of CompactUNet"):
        CompactUNet(3, 1, channels=(16,))
    with pytest.raises(ConfigError, match="'norm' of CompactUNet must be one of"):
        CompactUNet(3, 1, norm="layer")
    with pytest.raises(ConfigError, match="divisible by 16"):
        CompactUNet(3, 1)(torch.zeros(1, 3, 40, 40))


def test_3d_unet_keeps_the_patch_shape_and_uses_3d_layers():
    from lossadvisor.tune import CompactUNet3d

    net = CompactUNet3d(1, 3)
    # 3x3x3 kernels: about 3x the 2-D network's 3x3 weights (27 / 9 per channel pair)
    assert 2.5 * count_parameters(CompactUNet(1, 3)) < count_parameters(net) < 3.5 * count_parameters(
        CompactUNet(1, 3)
    )
    assert any(isinstance(m, torch.nn.InstanceNorm3d) for m in net.modules())
    assert net(torch.zeros(2, 1, 16, 32, 48)).shape == (2, 3, 16, 32, 48)
    with pytest.raises(ConfigError, match=r"patch sides divisible by 16; got \(16, 32, 40\)"):
        net(torch.zeros(1, 1, 16, 32, 40))


def test_3d_unet_learns_a_voxel_rule():
    """A few steps on a patch whose label is 'intensity > 0' bring the loss down: the 3-D path trains."""
    from lossadvisor.tune import CompactUNet3d

    torch.manual_seed(0)
    net = CompactUNet3d(1, 1, channels=(8, 16))
    x = torch.randn(2, 1, 8, 8, 8)
    y = (x[:, 0] > 0).float()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x)[:, 0], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


def test_spatial_dims_is_2_or_3():
    with pytest.raises(ConfigError, match="spatial_dims 2 or 3; got 1"):
        CompactUNet(1, 1, spatial_dims=1)
