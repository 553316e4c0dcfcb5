"""Credentials and endpoints for a capture: environment variables only, https only.

A key never comes from argv (it would show in `ps` and shell history). Every problem
is a one-line UsageError that names the variable or option, never its value.

    SurfaceAccess   what one surface needs: URL (workspace id filled in), bearer key
    access_for()    reads the surface's env vars, applies a --base-url override
    check_base_url  https everywhere; plain http only for loopback (the sandbox)
    same_origin     whether a redirect may keep the Authorization header
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from verifier.errors import UsageError
from verifier.surfaces import Surface, get_surface

LOOPBACK_HOSTS = frozenset({"localhost"})


@dataclass(frozen=True, slots=True)
class SurfaceAccess:
    """Everything needed to call one surface. `repr` never shows the key."""

    surface: Surface
    base_url: str
    api_key: str = field(repr=False)
    path_values: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def url(self) -> str:
        """The endpoint URL with its path template filled in (contains the workspace id)."""
        return self.base_url.rstrip("/") + self.surface.path.format(**self.path_values)

    @property
    def url_template(self) -> str:
        """The endpoint URL with placeholders kept: safe to record and print."""
        return self.base_url.rstrip("/") + self.surface.path

    @property
    def secrets(self) -> tuple[str, ...]:
        """Literal values that must never reach a file or a terminal."""
        return (self.api_key, *self.path_values.values())

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def is_loopback_host(host: str) -> bool:
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(url: str, *, what: str = "base URL") -> str:
    """Accept https URLs, and plain http only for a loopback host (the local sandbox)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host or parts.scheme not in ("https", "http"):
        raise UsageError(f"{what} {url!r} is not an http(s) URL with a host")
    if parts.username or parts.password:
        raise UsageError(f"{what} must not carry credentials in the URL")
    if parts.query or parts.fragment:
        raise UsageError(f"{what} {url!r} must not have a query string or fragment")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise UsageError(
            f"{what} {url!r} uses plain http; only https is allowed (http only for 127.0.0.1)"
        )
    return url.rstrip("/")


def same_origin(first: str | httpx.URL, second: str | httpx.URL) -> bool:
    """A redirect keeps the key only when scheme, host and port are all unchanged."""
    a, b = httpx.URL(str(first)), httpx.URL(str(second))
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def parse_base_url_overrides(values: Iterable[str]) -> dict[str, str]:
    """`--base-url SURFACE=URL` options -> {surface name: checked URL}."""
    overrides: dict[str, str] = {}
    for value in values:
        name, sep, url = value.partition("=")
        if not sep or not url:
            raise UsageError(f"--base-url expects SURFACE=URL, got {value!r}")
        surface = get_surface(name.strip())
        overrides[surface.name] = check_base_url(url.strip(), what=f"--base-url for {name}")
    return overrides


def read_env(name: str, env: Mapping[str, str]) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise UsageError(f"environment variable {name} is not set (keys are read from env only)")
    return value


def require_env(surfaces: Iterable[Surface], env: Mapping[str, str] | None = None) -> None:
    """Name every missing variable at once, so one run tells the whole story."""
    source = os.environ if env is None else env
    needed: list[str] = []
    for surface in surfaces:
        for name in (surface.auth_env, *surface.path_env):
            if name not in needed:
                needed.append(name)
    missing = [name for name in needed if not source.get(name, "").strip()]
    if missing:
        plural = "s are" if len(missing) > 1 else " is"
        raise UsageError(
            f"environment variable{plural} not set: {', '.join(missing)} "
            "(keys are read from env only)"
        )


def access_for(
    surface: Surface,
    *,
    env: Mapping[str, str] | None = None,
    base_url: str | None = None,
) -> SurfaceAccess:
    """Read a surface's key and path values from the environment."""
    source = os.environ if env is None else env
    api_key = read_env(surface.auth_env, source)
    path_values = {_placeholder(name): read_env(name, source) for name in surface.path_env}
    return SurfaceAccess(
        surface=surface,
        base_url=check_base_url(base_url or surface.base_url),
        api_key=api_key,
        path_values=path_values,
    )


def _placeholder(env_name: str) -> str:
    """CHATGPT_WORKSPACE_ID fills `{workspace_id}` in the path template."""
    return env_name.lower().removeprefix("chatgpt_")


def all_secrets(accesses: Iterable[SurfaceAccess]) -> tuple[str, ...]:
    """Every distinct secret literal in use, longest first (for masking and the leak gate)."""
    found = {secret for access in accesses for secret in access.secrets if secret}
    return tuple(sorted(found, key=lambda s: (-len(s), s)))


def make_client(timeout: float, *, max_connections: int = 16) -> httpx.Client:
    """The client used for live captures: TLS verified, redirects handled by the caller."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout),
        verify=True,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=max_connections),
    )
