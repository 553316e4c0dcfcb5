"""One exception tree for the tool failing; findings are data, never exceptions.

    VerifierError                exit 3 unless a subclass says otherwise
    ├── UsageError               exit 2  bad option, unknown surface, missing env var
    ├── InputError               exit 2  unreadable or invalid input file
    │   └── FormatVersionError   exit 2  capture/lock written by an unknown format version
    ├── RefusedError             exit 1  a gate refused: leak before a write, merge on drift
    └── OperationalError         exit 3  the world failed
        ├── NetworkError         exit 3  connection, timeout, retries exhausted
        └── DiskError            exit 3  could not write output

Every message is one line, safe to print: it never contains a credential.
"""

from __future__ import annotations

EXIT_PASS = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_OPERATIONAL = 3


class VerifierError(Exception):
    """Base of every error the tool raises on purpose."""

    exit_code: int = EXIT_OPERATIONAL

    def __init__(self, message: str) -> None:
        # Keep messages to one line so the CLI can print them verbatim.
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self)


class UsageError(VerifierError):
    exit_code = EXIT_USAGE


class InputError(VerifierError):
    exit_code = EXIT_USAGE

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")

    def __reduce__(self) -> tuple[type[InputError], tuple[str, str]]:
        # Pickled as what it was made from (a parallel pass's error, `verifier.parallel`).
        return type(self), (self.source, self.problem)


class FormatVersionError(InputError):
    pass


class RefusedError(VerifierError):
    """A safety gate refused to go on (leak found before a write, merge on drift)."""

    exit_code = EXIT_FINDINGS


class OperationalError(VerifierError):
    exit_code = EXIT_OPERATIONAL


class NetworkError(OperationalError):
    pass


class DiskError(OperationalError):
    pass
