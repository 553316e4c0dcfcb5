"""The anonymisation key: env var first, else a 0600 key file created once outside the repo."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from tests.conftest import ROOT
from verifier.errors import UsageError
from verifier.keys import (
    KEY_ENV,
    KEY_FILE_NAME,
    AnonKey,
    default_config_dir,
    documented_sample_key,
    key_from_text,
    load_key,
)

FINGERPRINT = re.compile(r"sha256:[0-9a-f]{16}")


def test_env_var_wins_over_the_key_file(tmp_path: Path) -> None:
    key = load_key(env={KEY_ENV: "a-long-random-key-from-ci-0123456789"}, config_dir=tmp_path)
    assert key == key_from_text("a-long-random-key-from-ci-0123456789")
    assert list(tmp_path.iterdir()) == []  # no key file was created


def test_key_file_is_created_once_with_owner_only_permissions(tmp_path: Path) -> None:
    config = tmp_path / "config" / "verifier"
    first = load_key(env={}, config_dir=config)
    key_file = config / KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.stat().st_mode) & 0o077 == 0
    assert load_key(env={}, config_dir=config) == first  # reused, not regenerated
    assert [p.name for p in config.iterdir()] == [KEY_FILE_NAME]  # no temp file left


def test_key_file_content_in_the_env_var_gives_the_same_key(tmp_path: Path) -> None:
    from_file = load_key(env={}, config_dir=tmp_path)
    text = (tmp_path / KEY_FILE_NAME).read_text(encoding="utf-8")
    assert load_key(env={KEY_ENV: text}, config_dir=tmp_path / "other") == from_file


def test_fingerprint_is_public_and_repr_hides_the_secret() -> None:
    key = key_from_text("s3cret-value-that-must-not-print")
    assert FINGERPRINT.fullmatch(key.fingerprint)
    assert "s3cret" not in repr(key)
    assert "s3cret" not in key.fingerprint
    assert key.fingerprint != key_from_text("another-secret-value-entirely").fingerprint


def test_surrounding_whitespace_does_not_change_the_key() -> None:
    assert key_from_text("  abc-key-0123456789\n") == key_from_text("abc-key-0123456789")


@pytest.mark.parametrize("text", ["", "   \n"])
def test_an_empty_key_is_refused(text: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="empty"):
        load_key(env={KEY_ENV: text}, config_dir=tmp_path)


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    load_key(env={}, config_dir=tmp_path)
    (tmp_path / KEY_FILE_NAME).chmod(0o644)
    with pytest.raises(UsageError, match="chmod 600") as caught:
        load_key(env={}, config_dir=tmp_path)
    assert caught.value.exit_code == 2


def test_an_empty_key_file_is_refused_not_overwritten(tmp_path: Path) -> None:
    key_file = tmp_path / KEY_FILE_NAME
    key_file.write_text("", encoding="utf-8")
    key_file.chmod(0o600)
    with pytest.raises(UsageError, match="empty"):
        load_key(env={}, config_dir=tmp_path)
    assert key_file.read_text(encoding="utf-8") == ""


def test_default_key_location_is_the_user_config_dir_not_the_repo(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert default_config_dir() == tmp_path / "xdg" / "verifier"
    load_key()
    assert (tmp_path / "xdg" / "verifier" / KEY_FILE_NAME).is_file()
    assert not (ROOT / KEY_FILE_NAME).exists()
    assert not (Path.cwd() / KEY_FILE_NAME).exists()


def test_documented_sample_key_is_fixed() -> None:
    assert isinstance(documented_sample_key(), AnonKey)
    assert documented_sample_key() == documented_sample_key()
