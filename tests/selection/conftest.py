"""Fixtures for the selector tests (data: selection_planted.py)."""
import pytest

from selection_planted import make_planted


@pytest.fixture(scope="session")
def planted():
    return make_planted()
