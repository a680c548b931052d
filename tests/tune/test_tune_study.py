from __future__ import annotations

import pytest

from lossadvisor.errors import ConfigError
from lossadvisor.tune.study._storage import open_storage
from lossadvisor.tune.study._urls import redact_url, scrub


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
