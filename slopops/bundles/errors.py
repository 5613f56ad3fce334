"""Errors of release bundles and release records.

::

    SlopopsError
    └── BundleError                   a bundle cannot be built or used
        ├── BundleLayoutError         the source directory has a missing or extra part
        ├── BundleTamperedError       a file or the manifest no longer matches its hash
        └── BundleNotFoundError       no stored bundle has the requested id
"""

from __future__ import annotations

from pathlib import Path

from slopops.errors import SlopopsError


class BundleError(SlopopsError):
    """A release bundle cannot be built, stored or loaded."""


class BundleLayoutError(BundleError):
    """The bundle source directory does not have the expected layout.

    Attributes:
        directory: The directory that was read.
    """

    def __init__(self, directory: Path, problem: str) -> None:
        self.directory = directory
        super().__init__(f"bundle directory {str(directory)!r} {problem}")


class BundleTamperedError(BundleError):
    """A bundle file or its manifest does not match the recorded sha256.

    Attributes:
        bundle_id: The id the bundle claims.
        path: The file that failed the check, relative to the bundle.
        expected: The sha256 in the manifest (or the claimed id).
        actual: The sha256 computed now.
    """

    def __init__(self, bundle_id: str, path: str, expected: str, actual: str) -> None:
        self.bundle_id = bundle_id
        self.path = path
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"bundle {bundle_id[:12]!r}: {path!r} has sha256 {actual[:12]!r}, "
            f"manifest expects {expected[:12]!r}; rebuild the bundle from a clean "
            "source directory"
        )


class BundleNotFoundError(BundleError):
    """No bundle with this id is in the bundle store.

    Attributes:
        bundle_id: The requested id.
        store_dir: The store that was searched.
    """

    def __init__(self, bundle_id: str, store_dir: Path) -> None:
        self.bundle_id = bundle_id
        self.store_dir = store_dir
        super().__init__(
            f"bundle {bundle_id!r} is not in {str(store_dir)!r}; build it with "
            "`slopops` or pass the bundle directory"
        )
