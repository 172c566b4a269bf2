"""Read settings from the environment through small helpers that fail loudly.

Every helper names the variable in its error, so a bad deployment stops with
"SECRET_KEY is required in production" instead of a stack trace ten layers deep.
Standard library only: the GPU tier has its own copy of this idea in gpu_worker.config.
"""

from __future__ import annotations

import os
from email.utils import parseaddr
from urllib.parse import urlparse


class ConfigError(Exception):
    """A setting in the environment is missing or malformed."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None, *, required: bool = False) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        if required:
            raise ConfigError(f"{name} must be set.")
        if default is None:
            raise ConfigError(f"{name} must be set (no default).")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be a boolean (true/false/1/0), got {raw!r}.")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}.") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}.")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_email(name: str, default: str) -> str:
    """An e-mail address, bare or with a display name ("OnTop <noreply@ontop.example>")."""
    value = env_str(name, default)
    _display, address = parseaddr(value)
    local, _, domain = address.rpartition("@")
    domain_ok = domain == "localhost" or "." in domain.strip(".")
    if not local or not domain_ok or " " in address:
        raise ConfigError(f"{name} must be an e-mail address like 'OnTop <noreply@example.com>', got {value!r}.")
    return value


def env_timeouts(name: str) -> dict[str, int]:
    """ "kind=seconds,kind=seconds" (e.g. "studio_training=7200"): per-workflow job timeouts."""
    timeouts: dict[str, int] = {}
    for item in env_list(name, []):
        kind, _, seconds = item.partition("=")
        if not kind.strip() or not seconds.strip().isdigit() or int(seconds) < 10:
            raise ConfigError(f"{name} must look like 'kind=seconds,kind=seconds' with at least 10 s; got {item!r}.")
        timeouts[kind.strip()] = int(seconds)
    return timeouts


def env_url(name: str, default: str | None, *, schemes: tuple[str, ...], required: bool = False) -> str:
    """A URL whose scheme and host are checked, so typos fail at start, not at first query."""
    value = env_str(name, default, required=required)
    parsed = urlparse(value)
    if parsed.scheme not in schemes:
        allowed = ", ".join(f"{s}://" for s in schemes)
        raise ConfigError(f"{name} must start with one of {allowed} (got {_redact(value)!r}).")
    if not parsed.hostname and "host=" not in parsed.query:
        raise ConfigError(f"{name} has no host: {_redact(value)!r}.")
    try:
        parsed.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ConfigError(f"{name} has a malformed port: {_redact(value)!r}.") from None
    return value


def _redact(url: str) -> str:
    """Hide the password part of a URL before it ends up in an error message."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url
