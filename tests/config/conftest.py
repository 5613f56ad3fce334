"""Fixtures: settings profiles written to a temporary directory."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from tests.config.helpers import BASE_PROFILE

WriteProfile = Callable[..., Path]


@pytest.fixture(autouse=True)
def _no_slopops_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    # A variable from the shell running the tests would override the profile.
    for name in list(os.environ):
        if name.startswith("SLOPOPS_"):
            monkeypatch.delenv(name)


@pytest.fixture
def profile_dir(tmp_path: Path) -> Path:
    """Return an empty profile directory; its parent is the workspace."""
    directory = tmp_path / "config"
    directory.mkdir()
    return directory


@pytest.fixture
def write_profile(profile_dir: Path) -> WriteProfile:
    """Return a function writing ``BASE_PROFILE`` changed by ``edit``."""

    def write(
        env: str = "devnet",
        edit: Callable[[dict[str, Any]], None] | None = None,
    ) -> Path:
        data = copy.deepcopy(BASE_PROFILE)
        if edit is not None:
            edit(data)
        path = profile_dir / f"{env}.toml"
        path.write_text(tomli_w.dumps(data))
        return path

    return write
