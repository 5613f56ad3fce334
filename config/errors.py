"""Errors raised while loading a settings profile."""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import ValidationError

from slopops.errors import SlopopsError


class ProfileError(SlopopsError):
    """A settings profile is missing, unreadable or invalid.

    Attributes:
        environment: The environment whose profile failed to load.
        problems: One line per problem, each naming the field and the fix.
    """

    def __init__(self, environment: str, problems: list[str]) -> None:
        self.environment = environment
        self.problems = problems
        joined = "; ".join(problems)
        super().__init__(f"invalid {environment!r} profile: {joined}")

    @classmethod
    def from_validation(cls, environment: str, exc: ValidationError) -> ProfileError:
        """Build one message per field from a pydantic ``ValidationError``."""
        problems = []
        for error in exc.errors():
            field = _field_name(error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "missing":
                message = "missing; " + _how_to_set(error["loc"])
            elif error["type"] == "extra_forbidden":
                message = "unknown key; remove it or fix its spelling"
            elif error["type"].startswith("url"):
                shown = mask_url(str(error.get("input")))
                message = f"{message}: {shown!r} is not a valid http(s) URL"
            variable = _variable_name(error["loc"])
            if variable and variable in os.environ:
                message += f" (the value comes from the variable {variable})"
            # A check of the whole profile names its own field in the message.
            problems.append(message if field == "profile" else f"{field}: {message}")
        return cls(environment, problems)


def _field_name(loc: tuple[int | str, ...]) -> str:
    """Return a dotted field name such as ``programs[0].name``."""
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else f".{part}"
    return name.lstrip(".") or "profile"


def _how_to_set(loc: tuple[int | str, ...]) -> str:
    # A list item has no variable of its own: SLOPOPS_PROGRAMS replaces the
    # whole list.
    if any(isinstance(part, int) for part in loc):
        return "add it to the profile"
    return f"add it to the profile or set the variable {_variable_name(loc)}"


def _variable_name(loc: tuple[int | str, ...]) -> str | None:
    """Return the environment variable that sets ``loc``, if it has one."""
    if not loc or any(isinstance(part, int) for part in loc):
        return None
    return "SLOPOPS_" + "__".join(str(part) for part in loc).upper()


class SecretError(SlopopsError):
    """A secret is not set, its file is missing or empty, or others may read it.

    Attributes:
        field: The secret's dotted field name, such as ``mcp.fly_api_token``.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


# The mask pydantic prints for a SecretStr, used for URL credentials too.
MASK = "**********"


def mask_url(url: str) -> str:
    """Return ``url`` with its password and every query value masked.

    Provider keys travel in the query (``?api-key=``), so a URL printed in a
    message or by ``config show`` never shows them.
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url.split("?", 1)[0]
    netloc = parts.netloc
    if password is not None:
        netloc = netloc.replace(f":{password}@", f":{MASK}@", 1)
    query = urlencode([(key, MASK) for key, _ in parse_qsl(parts.query)], safe="*")
    return urlunsplit(parts._replace(netloc=netloc, query=query))
