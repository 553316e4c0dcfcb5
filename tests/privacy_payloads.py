"""Hostile payloads for the privacy properties (tests/test_privacy_properties.py) and the
big runs (scripts/privacy_fuzz.py): documents of any shape with personal values and
secrets planted in values, member names, error messages, HTML pages and envelope
fields, in the encodings that used to slip through. The drivers run them through every
reader and the anonymiser and look for the planted values in every output."""

from __future__ import annotations

import base64
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from tests.cli_helpers import run_cli
from tests.conftest import CANARY_CODEX_KEY, CANARY_OPENAI_KEY, CANARY_WORKSPACE_ID
from verifier.keys import key_from_text
from verifier.surfaces import SURFACE_NAMES

# Distinctive planted values: none of them can appear in an output by coincidence.
PERSON_LOCAL = "zelda.quokka"
PHONE = "+1-555-0143-9981"
NAME = "Zelda Quokka-Fitzgerald"
IP = "203.0.113.77"
DOB = "1971-02-03"
NUMERIC_ID = "918273645546372819"

EMAIL_FORMS = (
    f"{PERSON_LOCAL}@corp.example",
    f"{PERSON_LOCAL.upper()}@CORP.EXAMPLE",
    f"{PERSON_LOCAL}@bücher.example",
    f'"{PERSON_LOCAL}"@corp.example',
    f"{PERSON_LOCAL}&#64;corp.example",
    f"{PERSON_LOCAL}&#x40;corp.example",
    f"{PERSON_LOCAL}%40corp.example",
    f"{PERSON_LOCAL}%2540corp.example",
    f"{PERSON_LOCAL}\\u0040corp.example",
    f"{PERSON_LOCAL}＠corp.example",  # noqa: RUF001 - full-width at
    f"mailto:{PERSON_LOCAL}@corp.example?subject=x",
    f"{PERSON_LOCAL}@anon.invalid",  # the anonymised domain, but no pseudonym
)
SECRET_FORMS = (
    CANARY_OPENAI_KEY,
    CANARY_OPENAI_KEY.upper(),
    CANARY_OPENAI_KEY.removeprefix("sk-admin-"),
    CANARY_OPENAI_KEY[-16:],
    base64.b64encode(CANARY_OPENAI_KEY.encode()).decode(),
    f"Bearer {CANARY_CODEX_KEY}",
    CANARY_WORKSPACE_ID,
    CANARY_WORKSPACE_ID.replace("-", "").upper(),
)
OTHER_PERSONAL = (PHONE, NAME, IP, NUMERIC_ID)
ENV = {
    "OPENAI_ADMIN_KEY": CANARY_OPENAI_KEY,
    "CODEX_ANALYTICS_KEY": CANARY_CODEX_KEY,
    "CHATGPT_WORKSPACE_ID": CANARY_WORKSPACE_ID,
    "VERIFY_ANON_KEY": "privacy-fuzz-anonymisation-key",
}
CURRENT = key_from_text(ENV["VERIFY_ANON_KEY"]).fingerprint  # the fingerprint the runs use
# What must never be in any output, whatever the form planted.
NEVER_SHOWN = (PERSON_LOCAL, PERSON_LOCAL.upper(), "zelda", "ZELDA", "Quokka")
SECRET_TELLS = (  # distinctive parts only: the canaries end in runs of zeros
    "CANARYfakeKEY",
    "canaryfakekey",
    "CANARYFAKEKEY",
    "fakeCODEXkey",
    "FAKECODEXKEY",
    CANARY_WORKSPACE_ID[-8:],
    CANARY_WORKSPACE_ID[-8:].upper(),
    base64.b64encode(CANARY_OPENAI_KEY.encode()).decode()[8:20],
)

plants = st.sampled_from(EMAIL_FORMS + SECRET_FORMS + OTHER_PERSONAL)
wrapped = st.builds(
    lambda before, plant, after: f"{before}{plant}{after}",
    st.sampled_from(("", "contact ", "<p>", "user=", "error for ")),
    plants,
    st.sampled_from(("", ".", "</p>", " please", "&x=1")),
)
member_names = st.one_of(
    st.sampled_from(
        ("object", "data", "email", "user_id", "model", "note", "phone", "name", "id", "error")
    ),
    st.sampled_from(("start_time", "amount", "value", "results", "message", "actor", "ip")),
    plants,
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53) + 1, 2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    wrapped,
    st.sampled_from(("bucket", "page", "gpt-5-codex", "2026-05-01T00:00:00Z", "12.50")),
)
documents = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(member_names, children, max_size=5),
    ),
    max_leaves=25,
)


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A response body: the usual envelope with hostile rows, or any object."""
    if draw(st.booleans()):
        return {
            "object": draw(st.one_of(st.just("page"), wrapped)),
            "data": draw(st.lists(documents, max_size=4)),
            "has_more": False,
            "next_page": None,
            **draw(st.dictionaries(member_names, documents, max_size=3)),
        }
    return draw(st.dictionaries(member_names, documents, min_size=1, max_size=6))


@st.composite
def captures(draw: st.DrawFn) -> dict[str, Any]:
    """A capture envelope with hostile pages, headers, findings and a forged fingerprint."""
    return {
        "format": "verify-capture",
        "format_version": draw(st.sampled_from((1, 2))),
        "surface": draw(st.sampled_from(SURFACE_NAMES)),
        "captured_at": "2026-05-01T00:00:00Z",
        "source": draw(st.one_of(st.just("live"), wrapped)),
        "anonymisation": {
            "method": "hmac-sha256/v1",
            # None, another key's, or the current key's: a claim, never a proof.
            "key_fingerprint": draw(st.sampled_from((None, "sha256:forged0000000000", CURRENT))),
        },
        "request": {"method": "GET", "url_template": "https://api.example/v1", "query": {}},
        "pages": [
            {
                "status": draw(st.sampled_from((200, 400, 500))),
                "url": draw(st.one_of(st.just("https://api.example/v1"), wrapped)),
                "headers": draw(st.dictionaries(member_names, wrapped, max_size=3)),
                "body": draw(bodies()),
            }
        ],
        "findings": draw(
            st.lists(st.dictionaries(st.sampled_from(("kind", "message")), wrapped), max_size=2)
        ),
    }


@dataclass(frozen=True)
class Outcome:
    command: str
    code: int
    text: str  # stdout + stderr + every file written


ALL_COMMANDS = ("check", "diff", "scan", "lock", "anonymise", "merge")
_FORMATS = {"check": "json", "diff": "junit", "scan": "github", "lock": "markdown"}


def run_everything(document: Any, surface: str, raw: bytes | None = None) -> list[Outcome]:
    """Every reader on the document (as a file), and the anonymiser into a directory."""
    return run_commands(document, surface, list(ALL_COMMANDS), raw)


def run_commands(
    document: Any, surface: str, commands: list[str], raw: bytes | None = None
) -> list[Outcome]:
    """The given commands on the document written to a file (or on `raw` bytes); each
    outcome holds stdout, stderr and the text of every file the command wrote."""
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="privacy-") as tmp:
        folder = Path(tmp)
        source = folder / "input.json"
        source.write_bytes(raw if raw is not None else json.dumps(document).encode())
        for command in commands:
            out = folder / f"out-{command}"
            args = [command, str(source)]
            if command in ("check", "diff", "anonymise"):
                args += ["--surface", surface]
            if command == "lock":
                args += ["--locks-dir", str(out)]
            if command == "anonymise":
                args += ["--out", str(out)]
            elif command == "merge":  # a forged capture through the gate and the merge
                args += ["--allow-unlocked", "--locks-dir", str(folder / "no-locks")]
                args += ["--out", str(out / "spend.json"), "--format", "json"]
            else:
                args += ["--format", _FORMATS[command]]
            result = run_cli(*args, env=ENV)
            written = "".join(p.read_text("utf-8", "replace") for p in _files(out))
            outcomes.append(Outcome(command, result.code, result.stdout + result.stderr + written))
    return outcomes


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def problems(outcomes: list[Outcome]) -> list[str]:
    """What breaks the contract: a leak, a traceback, an exit code outside 0..3."""
    found = []
    for outcome in outcomes:
        if outcome.code not in (0, 1, 2, 3):
            found.append(f"{outcome.command}: exit {outcome.code}")
        if "Traceback" in outcome.text or "internal error" in outcome.text:
            found.append(f"{outcome.command}: traceback or internal error")
        for tell in NEVER_SHOWN + SECRET_TELLS + OTHER_PERSONAL:
            if tell in outcome.text:
                found.append(f"{outcome.command}: planted value {tell!r} in the output")
    return found


def environment_ready() -> None:
    os.environ.pop("VERIFY_DEBUG", None)
