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
