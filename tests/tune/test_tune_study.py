from __future__ import annotations

import pytest

from lossadvisor.errors import ConfigError
from lossadvisor.tune._stability import confidence, rank_configs
from lossadvisor.tune._study import open_storage, redact_url, scrub


def test_redact_url_hides_only_the_password():
    assert redact_url("postgresql://me:s3cr%40t@db:5432/optuna") == "postgresql://me:***@db:5432/optuna"
    assert redact_url("sqlite:////tmp/x/study.db") == "sqlite:////tmp/x/study.db"
    assert redact_url("postgresql://me@db/optuna") == "postgresql://me@db/optuna"


def test_scrub_removes_the_password_from_driver_messages():
    url = "postgresql://me:hunter2@db/optuna"
    assert "hunter2" not in scrub(f"could not connect with {url} (password hunter2 rejected)", url)


def test_unreachable_storage_is_a_config_error_without_the_password():
    url = "postgresql://me:hunter2@127.0.0.1:1/optuna"
    with pytest.raises(ConfigError, match=r"Cannot open the Optuna storage postgresql://me:\*\*\*@") as info:
        open_storage(url)
    assert "hunter2" not in str(info.value)


def _runs(cid, loss, ious, collapsed=()):
    return [
        {
            "config_id": cid,
            "loss": loss,
            "val_iou": v,
            "failed": False,
            "collapse": "background" if i in collapsed else "none",
        }
        for i, v in enumerate(ious)
    ]


class _Cfg:
    def __init__(self, cid, loss):
        from lossadvisor.tune._space import Configuration

        self.config_id, self.label, self.source = cid, cid, "top"
        self.config = Configuration(loss, {}, 1e-3)


def test_score_penalises_spread_and_collapse():
    records = _runs("a", "dice", [0.9, 0.0, 0.9], collapsed={1}) + _runs("b", "ce", [0.6, 0.6, 0.6])
    ranking = rank_configs(records, [_Cfg("a", "dice"), _Cfg("b", "ce")])
    # dice: mean 0.6, sample std 0.5196, collapse 1/3 -> 0.6 - 0.5196 - 0.5/3 = -0.0863; ce: 0.6
    assert [r["config_id"] for r in ranking] == ["b", "a"]
    assert ranking[1]["score"] == pytest.approx(0.6 - 0.519615 - 0.5 / 3, abs=1e-5)
    assert ranking[0]["score"] == pytest.approx(0.6)


def test_confidence_levels_against_the_seed_spread():
    def rank(margin, std):
        return [
            {"loss": "ce", "score": 0.5 + margin, "std_iou": std, "label": "x", "config_id": "x"},
            {"loss": "dice", "score": 0.5, "std_iou": std, "label": "y", "config_id": "y"},
        ]

    assert confidence(rank(0.10, 0.02))["level"] == "high"  # 5 spreads
    assert confidence(rank(0.02, 0.02))["level"] == "medium"  # 1 spread
    assert confidence(rank(0.005, 0.02))["level"] == "low"  # a quarter spread
    same_loss = [{"loss": "ce", "score": 0.6, "std_iou": 0.0, "label": "x", "config_id": "x"}]
    assert confidence(same_loss)["level"] == "low"
