"""Command-line interface: `verify` (also `python -m verifier`).

Each command lives in its own module (`verifier/cli/<command>.py`), imported on demand
by the `main` group (see `COMMAND_MODULES` in `app.py`)."""

from verifier.cli.app import main

__all__ = ["main"]
