"""Shared fixtures: the reference data folder (TOMOFUSE_SHARED, else ../shared beside the
checkout). Missing data skips a test locally and fails it under CI (CI=true), as the Rust
tests do."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    env = os.environ.get("TOMOFUSE_SHARED")
    return Path(env) if env else REPO.parent / "shared"


def require(rel: str) -> Path:
    p = shared_dir() / rel
    if not p.exists():
        msg = f"shared data {p} missing (set TOMOFUSE_SHARED)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return p


@pytest.fixture(scope="session")
def ibsi() -> Path:
    return require("reference/ibsi")


@pytest.fixture(scope="session")
def lung() -> Path:
    return require("data/ct/pyradiomics_lung")
