"""Command-line interface: `verify` (also `python -m verifier`)."""

from verifier.cli import check  # registers `verify check`
from verifier.cli.app import main

__all__ = ["check", "main"]
