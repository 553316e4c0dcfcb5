"""`verify sandbox`: serve the local emulator of the four endpoints until Ctrl-C."""

from __future__ import annotations

import os
import signal
import sys
import threading
import uuid

import click

from verifier.cli.app import main
from verifier.sandbox import SCENARIO_NAMES, make_config, start_sandbox, stop_sandbox
from verifier.surfaces import SURFACE_NAMES

KEY_VARIABLES = ("OPENAI_ADMIN_KEY", "CODEX_ANALYTICS_KEY")


@main.command()
@click.option(
    "--port",
    default=0,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="0 picks a free port.",
)
@click.option(
    "--scenario",
    default="documented",
    show_default=True,
    metavar="|".join(SCENARIO_NAMES),
    help="What the sandbox answers.",
)
@click.option(
    "--users", default=3, show_default=True, type=click.IntRange(1, 10_000), help="Fake people."
)
@click.option(
    "--days", default=90, show_default=True, type=click.IntRange(1, 3660), help="Days of history."
)
@click.option(
    "--codex-users",
    default=None,
    type=click.IntRange(1, 20_000),
    help="People with ChatGPT Codex usage (the first N; default: --users). The Codex API "
    "looks back 90 days, the OpenAI surfaces 180: more people here gives as many rows.",
)
def sandbox(port: int, scenario: str, users: int, days: int, codex_users: int | None) -> int:
    """Serve fake ChatGPT/OpenAI analytics endpoints on 127.0.0.1 until Ctrl-C.

    The sandbox accepts the keys already in OPENAI_ADMIN_KEY / CODEX_ANALYTICS_KEY;
    when neither is set it makes a throwaway key and prints the `export` line to use.
    Data is deterministic: the same people (devN@sandbox.example) on every surface.

    \b
    Example:
      verify sandbox --port 8765 --scenario vendor-docs
    """
    keys = [os.environ[name] for name in KEY_VARIABLES if os.environ.get(name)]
    exports = ""
    if not keys:
        # Not `sk-` shaped: output masking (verifier.redact) would hide it, and it is no
        # real key, only the sandbox's password for this run.
        throwaway = "sandbox-throwaway-" + uuid.uuid4().hex
        keys = [throwaway]
        exports = (
            f"export OPENAI_ADMIN_KEY={throwaway} CODEX_ANALYTICS_KEY={throwaway} "
            f"CHATGPT_WORKSPACE_ID={uuid.uuid4()}"
        )
    config = make_config(
        scenario=scenario, users=users, days=days, api_key=keys, codex_users=codex_users
    )
    box = start_sandbox(config, port)
    click.echo(f"sandbox listening on {box.base_url} (scenario {scenario}, {users} users)")
    if exports:
        click.echo(exports)
    overrides = " ".join(f"--base-url {name}={box.base_url}" for name in SURFACE_NAMES)
    click.echo(f"capture with: verify capture --start DATE --end DATE {overrides}")
    sys.stdout.flush()  # whoever started us in the background is waiting for the URL
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop_sandbox(box)
    click.echo("sandbox stopped", err=True)
    return 0
