"""The approval form of a mainnet promotion, bound to one bundle.

The form is a Prefect ``RunInput``. The server validates a resume request
against the form's JSON schema, so input that breaks the schema (an empty
approver, an unknown decision, the wrong bundle prefix) is rejected and the
run stays paused. Binding: the ``bundle`` field only accepts the first
:data:`BINDING_LENGTH` characters of the bundle id being promoted, so an
approval typed for another bundle cannot resume this run.
"""

from __future__ import annotations

from typing import Literal

from prefect.input import RunInput
from pydantic import Field, create_model

from slopops.bundles import ReleaseRecord
from slopops.bundles.manifest import Manifest

BINDING_LENGTH = 8


class ApprovalInput(RunInput):
    """The form an approver fills in to resume a paused promotion."""

    approver: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^\S(.*\S)?$",
        description="Your name or handle, as it should appear in the audit log.",
    )
    decision: Literal["approve", "reject"] = Field(
        description="approve deploys the bundle; reject ends the run untouched."
    )
    reason: str = Field("", max_length=1000, description="Why, in a sentence.")
    bundle: str = Field(
        description=f"The first {BINDING_LENGTH} characters of the bundle id."
    )


def approval_form(bundle_id: str) -> type[ApprovalInput]:
    """Return the form whose ``bundle`` field accepts only this bundle's prefix."""
    prefix = bundle_id[:BINDING_LENGTH]
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"ApprovalFor{prefix}",
        __base__=ApprovalInput,
        bundle=(
            str,
            Field(
                pattern=f"^{prefix}$",
                description=f"Type the first {BINDING_LENGTH} characters of the "
                f"bundle id ({prefix}) to bind this decision to it.",
            ),
        ),
    )


def describe_changes(
    environment: str, record: ReleaseRecord, manifest: Manifest
) -> str:
    """Return the markdown shown above the form: the bundle and what changes."""
    current = record.current
    rows = []
    for program in manifest.programs:
        old = current.programs.get(program.name) if current else None
        rows.append((f"program `{program.name}` sha256", old, program.sha256))
    if manifest.node_release_id is not None:
        old = current.node_release if current else None
        rows.append(("node release", old, manifest.node_release_id))
    if manifest.mcp_image is not None:
        rows.append(
            ("MCP image", current.mcp_image if current else None, manifest.mcp_image)
        )
    lines = [
        f"## Promote bundle `{manifest.bundle_id}` to {environment}",
        "",
        f"Current bundle: `{current.bundle_id if current else 'none'}`",
        "",
        "| part | now | after |",
        "|---|---|---|",
    ]
    for part, old, new in rows:
        marker = "" if old == new else " (changes)"
        lines.append(f"| {part}{marker} | `{old or 'none'}` | `{new}` |")
    lines += [
        "",
        f"Type `{manifest.bundle_id[:BINDING_LENGTH]}` in **bundle** to bind your "
        "decision to this bundle.",
    ]
    return "\n".join(lines)
