"""Read secret values: a ``SecretStr`` field first, then its ``*_file`` field.

Each secret field ``<name>`` of a section has a companion ``<name>_file``. The
value comes from the field when the profile or a variable
(``SLOPOPS_MCP__FLY_API_TOKEN``) sets it, otherwise from the file, whose first
line is read and which must not be readable by group or others. Callers keep
the returned string out of logs and messages.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import SecretStr

from config.errors import SecretError
from config.settings import Settings, check_private_file

__all__ = [
    "fly_api_token",
    "mem0_dsn",
    "read_secret",
    "read_optional_secret",
    "rpc_api_key",
    "rpc_urls",
]


def read_optional_secret(settings: Settings, field: str) -> str | None:
    """Return the secret ``field`` (``section.name``), or None when neither is set.

    Raises:
        SecretError: The ``*_file`` is missing, empty or readable by others.
    """
    section_name, _, name = field.partition(".")
    section = getattr(settings, section_name)
    value: SecretStr | None = getattr(section, name)
    if value is not None:
        return value.get_secret_value()
    path: Path | None = getattr(section, f"{name}_file")
    if path is None:
        return None
    return _read_secret_file(settings.resolve(path), f"{field}_file")


def read_secret(settings: Settings, field: str) -> str:
    """Return the secret ``field`` (``section.name``, e.g. ``mcp.fly_api_token``).

    Raises:
        SecretError: Neither the field nor its ``*_file`` is set, or the file is
            missing, empty or readable by group or others.
    """
    value = read_optional_secret(settings, field)
    if value is None:
        variable = "SLOPOPS_" + field.replace(".", "__").upper()
        raise SecretError(
            field,
            f"secret {field} is not set in the {settings.environment!r} profile; "
            f"set {variable} or {field}_file",
        )
    return value


def fly_api_token(settings: Settings) -> str:
    """Return the Fly.io API token of the profile."""
    return read_secret(settings, "mcp.fly_api_token")


def mem0_dsn(settings: Settings, database: str = "mem0") -> str:
    """Return the libpq connection string of the mem0 database.

    Without ``dsn`` or ``dsn_file``, the embedded PostgreSQL running from
    ``mem0.embedded_dir`` (started by ``slopops stack up``) is used, with
    ``database`` on it.

    Raises:
        SecretError: No DSN is set and no embedded server runs, or the DSN
            file is missing, empty or readable by others.
    """
    mem0 = settings.mem0
    if mem0.dsn is not None or mem0.dsn_file is not None or not mem0.embedded_dir:
        return read_secret(settings, "mem0.dsn")
    # Imported here: the settings package otherwise needs no database driver.
    from slopops.stack.postgres import running_server

    data_dir = settings.resolve(mem0.embedded_dir)
    server = running_server(data_dir)
    if server is None:
        raise SecretError(
            "mem0.embedded_dir",
            f"no embedded PostgreSQL runs from {str(data_dir)!r}; start it with "
            "`slopops stack up`, or set SLOPOPS_MEM0__DSN",
        )
    return server.dsn(database)


def rpc_api_key(settings: Settings) -> str | None:
    """Return the RPC provider key, or None when the profile has none."""
    return read_optional_secret(settings, "rpc.api_key")


def rpc_urls(settings: Settings) -> list[str]:
    """Return the RPC endpoints, the API key added to the primary one.

    The key goes to the primary endpoint only (as the ``api-key`` query
    parameter, the Helius convention), so a fallback run by another provider
    never receives it.
    """
    urls = settings.rpc.urls
    key = rpc_api_key(settings)
    if key is None:
        return urls
    return [_with_query_parameter(urls[0], "api-key", key), *urls[1:]]


def _with_query_parameter(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = [(key, item) for key, item in parse_qsl(parts.query) if key != name]
    query.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _read_secret_file(path: Path, field: str) -> str:
    try:
        check_private_file(path, field)
        with path.open(encoding="utf-8") as handle:
            value = handle.readline().strip()
    except FileNotFoundError as exc:
        raise SecretError(
            field, f"{field} {str(path)!r} not found; create it with mode 0600"
        ) from exc
    except ValueError as exc:
        raise SecretError(field, str(exc)) from exc
    if not value:
        raise SecretError(
            field, f"{field} {str(path)!r} is empty; write the secret on its first line"
        )
    return value
