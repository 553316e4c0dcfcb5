"""The anonymisation key: where it comes from, how it is fingerprinted.

The key is the HMAC secret behind every pseudonym. It comes from the environment
variable `VERIFY_ANON_KEY` when set (CI, or several machines that must produce joinable
captures), otherwise from a key file created once with mode 0600 in the user's config
directory (platformdirs), never in the repository and never in a capture. A capture
records only the key's fingerprint, `sha256:<16 hex>`, so captures made with different
keys can be told apart (their pseudonyms do not join) without revealing the key.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from verifier.errors import DiskError, UsageError

KEY_ENV = "VERIFY_ANON_KEY"
KEY_FILE_NAME = "anon.key"
APP_NAME = "verifier"
FINGERPRINT_HEX_CHARS = 16
# Domain separation: the fingerprint is not the hash an attacker would compute for
# anything else, and never the HMAC of a payload value. It names the key *and* the
# pseudonym scheme: v2 pseudonyms carry a keyed tag (`verifier.anonymise`) and do not
# join v1 ones, so a v1 capture reads as made with another key and is never mixed in.
_FINGERPRINT_CONTEXT = b"verify-anon-key-fingerprint/v2\x00"

# A fixed, PUBLIC key used only to build captures/documented/: the documented samples
# are illustrative data, and a public key keeps those committed files reproducible.
# Never use it for real captures: anyone can reverse pseudonyms made with it by guessing.
DOCUMENTED_SAMPLE_KEY_TEXT = (
    "verify documented-sample key v1 - PUBLIC, NOT SECRET, never for live data"
)


@dataclass(frozen=True, slots=True)
class AnonKey:
    """An HMAC secret and its public fingerprint. `repr` never shows the secret."""

    secret: bytes = field(repr=False)
    fingerprint: str


def fingerprint_of(secret: bytes) -> str:
    digest = hashlib.sha256(_FINGERPRINT_CONTEXT + secret).hexdigest()
    return f"sha256:{digest[:FINGERPRINT_HEX_CHARS]}"


def key_from_text(text: str) -> AnonKey:
    """A key from its text form (the env var value or the key file's content).

    Surrounding whitespace is ignored, so the key file's content pasted into
    `VERIFY_ANON_KEY` gives the same key and therefore the same pseudonyms."""
    cleaned = text.strip()
    if not cleaned:
        raise UsageError("the anonymisation key is empty")
    secret = cleaned.encode("utf-8")
    return AnonKey(secret=secret, fingerprint=fingerprint_of(secret))


def documented_sample_key() -> AnonKey:
    """The public key of the documented example captures (see DOCUMENTED_SAMPLE_KEY_TEXT)."""
    return key_from_text(DOCUMENTED_SAMPLE_KEY_TEXT)


def default_config_dir() -> Path:
    return platformdirs.user_config_path(APP_NAME)


def load_key(env: Mapping[str, str] | None = None, config_dir: Path | None = None) -> AnonKey:
    """`VERIFY_ANON_KEY` if set, else the key file in `config_dir`, created on first use."""
    environ = os.environ if env is None else env
    if KEY_ENV in environ:
        if not environ[KEY_ENV].strip():
            raise UsageError(f"{KEY_ENV} is set but empty; unset it or give it a long random value")
        return key_from_text(environ[KEY_ENV])
    directory = default_config_dir() if config_dir is None else config_dir
    return key_from_text(_read_or_create_key_file(directory / KEY_FILE_NAME))


def _read_or_create_key_file(path: Path) -> str:
    if not path.exists():
        _create_key_file(path)
    return _read_key_file(path)


def _read_key_file(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise UsageError(f"anonymisation key file {path} is not a regular file")
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise UsageError(
                f"anonymisation key file {path} is accessible by other users "
                f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
            )
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read anonymisation key file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"anonymisation key file {path} is not UTF-8 text") from None
    if not text.strip():
        raise UsageError(f"anonymisation key file {path} is empty; delete it to create a new key")
    return text


def _create_key_file(path: Path) -> None:
    """Write a new random key so that no reader ever sees a partial file.

    The key goes to a 0600 temp file in the same directory and is hard-linked to its
    final name: the link fails if another process created the key first, and then that
    process's key wins (both runs end up using the same key)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp_name = tempfile.mkstemp(prefix=".anon.key.", dir=path.parent)
    except OSError as exc:
        raise DiskError(f"cannot create the key directory {path.parent}: {exc.strerror}") from None
    try:  # mkstemp creates the file with mode 0600
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp_name, path)
    except OSError as exc:
        raise DiskError(f"cannot write the key file {path}: {exc.strerror}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
