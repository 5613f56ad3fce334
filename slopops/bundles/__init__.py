"""Release bundles and the release records of each environment."""

from slopops.bundles.errors import (
    BundleError,
    BundleLayoutError,
    BundleNotFoundError,
    BundleTamperedError,
)
from slopops.bundles.manifest import (
    Bundle,
    FileEntry,
    Manifest,
    ProgramEntry,
    build_manifest,
    find_bundle,
    open_bundle,
    resolve_bundle,
    sha256_file,
    store_bundle,
)
from slopops.bundles.records import (
    PARTS,
    Part,
    Release,
    ReleaseRecord,
    record_promotion,
    record_rollback,
    soak_remaining_seconds,
)

__all__ = [
    "PARTS",
    "Bundle",
    "BundleError",
    "BundleLayoutError",
    "BundleNotFoundError",
    "BundleTamperedError",
    "FileEntry",
    "Manifest",
    "Part",
    "ProgramEntry",
    "Release",
    "ReleaseRecord",
    "build_manifest",
    "find_bundle",
    "open_bundle",
    "record_promotion",
    "record_rollback",
    "resolve_bundle",
    "sha256_file",
    "soak_remaining_seconds",
    "store_bundle",
]
