"""Shared by the whole suite."""

from __future__ import annotations

import pytest

from bot.engine.signals import load_lexicon


@pytest.fixture(scope="session", autouse=True)
def detectors_built() -> None:
    """Build the detectors (and their cached pre-filter) once, before any test: on a fresh
    machine the first build takes a minute or more, and a subprocess under test (`trainer
    run`, `trainer play`) would otherwise spend it inside a test's time limit, so a result
    would depend on which test happened to run first."""
    load_lexicon()
