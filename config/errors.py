"""Errors raised while loading a settings profile."""

from __future__ import annotations

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
            field = ".".join(str(part) for part in error["loc"]) or "profile"
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "missing":
                message = "missing; add it to the profile or set the variable " + (
                    "SLOPOPS_" + "__".join(str(p) for p in error["loc"]).upper()
                )
            elif error["type"] == "extra_forbidden":
                message = "unknown key; remove it or fix its spelling"
            elif error["type"].startswith("url"):
                message = (
                    f"{message}: {error.get('input')!r} is not a valid http(s) URL"
                )
            problems.append(f"{field}: {message}")
        return cls(environment, problems)
