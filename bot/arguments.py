"""Argument types shared by the command line's parsers."""

from __future__ import annotations

import argparse


def whole_number(text: str) -> int:
    """An id or count as SQLite stores it: 0 up to 2**63 - 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"out of range: {text}")
    return value
