"""The `verify` command group and the plumbing every command shares.

Only this package knows about click, terminals and exit codes: commands parse options,
call the core, render a report and return an exit code."""

from __future__ import annotations

import importlib
import io
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import click

from verifier import __version__
from verifier.errors import (
    EXIT_FINDINGS,
    EXIT_OPERATIONAL,
    EXIT_PASS,
    EXIT_USAGE,
    OperationalError,
    VerifierError,
)
from verifier.findings import Report
from verifier.redact import mask
from verifier.report import RENDERERS, render
from verifier.report import text as text_report
from verifier.surfaces import SURFACE_NAMES

if TYPE_CHECKING:
    from verifier.config import ToolConfig
    from verifier.external_consumers import ExternalConsumers

F = TypeVar("F", bound=Callable[..., Any])
EXIT_INTERRUPTED = 130  # the shell convention for SIGINT
EXIT_TERMINATED = 143  # ... and for SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C: every `finally` and every
    `except BaseException` cleanup (temp files, spools) runs before the process ends."""


def _on_sigterm(_signum: int, _frame: object) -> None:
    raise Terminated


@contextmanager
def sigterm_cleans_up() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupted_code(exc: BaseException) -> int:
    return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED


def fail_line(message: str) -> None:
    click.echo(f"verify: error: {' '.join(message.split())}", err=True)


class MaskingStream(io.TextIOBase):
    """stdout/stderr for the duration of a command: every write passes `redact.mask`, so
    no email or secret in use reaches a terminal or a CI log, whoever printed it."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(mask(text))
        return len(text)

    def flush(self) -> None:
        self._inner.flush()

    def isatty(self) -> bool:
        return self._inner.isatty()

    def fileno(self) -> int:
        return self._inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._inner, "encoding", None) or "utf-8"


@contextmanager
def masked_output() -> Iterator[None]:
    saved = sys.stdout, sys.stderr
    sys.stdout = MaskingStream(saved[0])
    sys.stderr = MaskingStream(saved[1])
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


# Command name -> module under verifier.cli that registers it. Modules are imported only
# when their command runs (or for --help), so `verify check` does not pay for httpx,
# the sandbox or the anonymiser at start-up.
COMMAND_MODULES: dict[str, str] = {
    "capture": "capture",
    "sandbox": "sandbox",
    "check": "check",
    "diff": "diff",
    "lock": "lock",
    "gate": "gate",
    "merge": "merge",
    "propose": "propose",
    "report": "report",
    "anonymise": "anonymise",
    "scan": "anonymise",
}


class VerifyGroup(click.Group):
    """Runs commands non-standalone so every failure is one line and a contract exit code;
    loads each command's module lazily."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMAND_MODULES))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            importlib.import_module(f"verifier.cli.{module}")
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        # click turns an EOFError into Abort, as it does Ctrl-C (a blank line, then exit
        # 130 here): an EOFError is the tool failing, one line and exit 3. Its text may
        # quote input, so it is not shown.
        try:
            return super().invoke(ctx)
        except EOFError:
            if os.environ.get("VERIFY_DEBUG"):
                raise
            raise OperationalError(
                "internal error (unexpected end of data); VERIFY_DEBUG=1 shows more"
            ) from None

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args:  # plain `verify`: the help, as a success (click's default is exit 2)
            click.echo(ctx.get_help())
            ctx.exit(EXIT_PASS)
        return super().parse_args(ctx, args)

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> None:
        extra.pop("standalone_mode", None)
        with masked_output(), sigterm_cleans_up():
            code = self._run(args, prog_name, **extra)
        _exit(code if isinstance(code, int) else EXIT_PASS)

    def _run(self, args: Sequence[str] | None, prog_name: str | None, **extra: Any) -> Any:
        try:
            code = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except click.exceptions.Abort as exc:
            # click turns Ctrl-C (KeyboardInterrupt) into Abort before we see it.
            cause = exc.__cause__
            interrupted = isinstance(cause, KeyboardInterrupt)
            fail_line(_stop_words(cause) if interrupted else "aborted")
            code = _interrupted_code(cause) if cause is not None else EXIT_OPERATIONAL
        except click.ClickException as exc:
            hint = ""
            ctx = getattr(exc, "ctx", None)
            if ctx is not None:
                hint = f" (see '{ctx.command_path} --help')"
            fail_line(exc.format_message() + hint)
            code = EXIT_USAGE
        except VerifierError as exc:
            fail_line(exc.message)
            code = exc.exit_code
        except RecursionError:
            fail_line("input nested too deeply to process")
            code = EXIT_USAGE
        except KeyboardInterrupt as exc:
            fail_line(_stop_words(exc))
            code = _interrupted_code(exc)
        except Exception as exc:  # a bug: still one line, never a traceback
            if os.environ.get("VERIFY_DEBUG"):
                raise
            # The exception text may quote input (a value, a line): never printed.
            fail_line(f"internal error ({exc.__class__.__name__}); VERIFY_DEBUG=1 shows more")
            code = EXIT_OPERATIONAL
        return code


def _stop_words(exc: BaseException | None) -> str:
    return "terminated" if isinstance(exc, Terminated) else "interrupted"


def _exit(code: int) -> None:
    """Exit; after Ctrl-C or SIGTERM do not wait for worker threads still blocked in the
    network (the interpreter would join them at exit): cleanup has already run."""
    if code in (EXIT_INTERRUPTED, EXIT_TERMINATED) and _busy_threads():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _busy_threads() -> bool:
    """Capture workers (`verifier.capture.run_chains` names them) still alive."""
    return any(t.name.startswith("capture") and t.is_alive() for t in threading.enumerate())


@click.group(
    cls=VerifyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="verify")
def main() -> None:
    """Verify ChatGPT Codex and OpenAI usage/cost payloads before a cost merge trusts them.

    \b
    Surfaces: chatgpt_enterprise_usage, openai_org_usage_completions,
              openai_org_costs, openai_org_users
    Exit codes: 0 pass; 1 findings fail the run; 2 usage error or bad input file;
                3 operational failure (network, server, disk).
    """


def surface_option(multiple: bool = False) -> Callable[[F], F]:
    help_text = "Surface of raw response bodies (capture files know their own): " + ", ".join(
        SURFACE_NAMES
    )
    return click.option("--surface", "surface", multiple=multiple, metavar="NAME", help=help_text)


def format_option(*extra: str) -> Callable[[F], F]:
    return click.option(
        "--format",
        "fmt",
        default="text",
        show_default=True,
        metavar="|".join(RENDERERS),
        help="Report format: " + ", ".join(RENDERERS) + ".",
    )


def consumers_option() -> Callable[[F], F]:
    return click.option(
        "--consumers",
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="FILE",
        help="What external parsers read (surface -> paths, optionally accepted types and "
        "formats): drift there is breaking as for the merge [default: [tool.verify] "
        "consumers in pyproject.toml]. See docs/drift.md.",
    )


def external_consumers(
    option: Path | None, settings: ToolConfig | None = None
) -> ExternalConsumers | None:
    """The consumers file named by the option, else by [tool.verify], else none."""
    from verifier.config import load_config
    from verifier.external_consumers import load_consumers

    path = option or (settings or load_config()).consumers
    return load_consumers(path) if path is not None else None


def use_colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def emit(report: Report, fmt: str) -> int:
    """Print a report in the requested format and return the contract exit code."""
    if fmt == "text":
        output = text_report.render(report, colour=use_colour())
    else:
        output = render(report, fmt)
    click.echo(output, nl=False)
    return EXIT_FINDINGS if report.verdict == "fail" else EXIT_PASS
