"""Command-line interface: `verify` (also `python -m verifier`)."""

import verifier.cli.anonymise  # registers `verify anonymise` and `verify scan`
import verifier.cli.capture  # registers `verify capture`
import verifier.cli.diff  # registers `verify diff`
import verifier.cli.gate  # registers `verify gate`
import verifier.cli.lock  # registers `verify lock`
import verifier.cli.merge  # registers `verify merge`
import verifier.cli.sandbox  # noqa: F401  registers `verify sandbox`
from verifier.cli import check  # registers `verify check`
from verifier.cli.app import main

__all__ = ["check", "main"]
