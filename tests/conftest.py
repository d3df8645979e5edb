"""Shared fixtures: the real digits in ../shared/data, skipped with a reason when absent."""

from pathlib import Path

import numpy as np
import pytest
import scipy.io

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_file(name: str) -> Path:
    """Path of a file in ../shared/data, or skip the test saying which file is missing."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"needs {path} (the project's shared test data, laid beside the clone)")
    return path


@pytest.fixture(scope="session")
def mnist20():
    """(X: (5000, 400), y: (5000,) labels 1..10) straight from mnist20-5000.mat."""
    mat = scipy.io.loadmat(shared_file("mnist20-5000.mat"))
    return mat["X"], mat["y"].ravel().astype(np.int64)


@pytest.fixture(scope="session")
def ex4_weights():
    """[Theta1 (25, 401), Theta2 (10, 26)], the course's pre-trained weights."""
    mat = scipy.io.loadmat(shared_file("ex4weights.mat"))
    return [mat["Theta1"], mat["Theta2"]]
