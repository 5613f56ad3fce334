"""Build, store and verify release bundles.

A bundle source directory has this layout; every part is optional but at
least one must be present::

    programs/<name>.so      one program ELF per program in the profile
    nodes/<release>.tar.gz  the agent node release tarball; its name is the
                            release id the nodes report from /health
    mcp-image.txt           the MCP image reference, one line

The manifest lists each file's sha256 and size and the image reference. The
bundle id is the sha256 of the manifest's canonical JSON (sorted keys, no
whitespace), so the same bytes always give the same id and any changed byte
gives another. A stored bundle is a copy of the files plus ``manifest.json``
under ``<store>/<bundle id>/``; loading it recomputes every hash.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from slopops.bundles.errors import (
    BundleLayoutError,
    BundleNotFoundError,
    BundleTamperedError,
)

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
PROGRAMS_DIR = "programs"
NODES_DIR = "nodes"
NODE_RELEASE_SUFFIX = ".tar.gz"
MCP_IMAGE_NAME = "mcp-image.txt"
FORMAT_VERSION = 1

_PROGRAM_NAME = re.compile(r"^[a-z0-9_][a-z0-9_-]*$")
_BUNDLE_ID = re.compile(r"^[0-9a-f]{64}$")
# The release id pattern of the fleet engine (releases/<id> on each node).
_NODE_RELEASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_CHUNK_BYTES = 1 << 20


class FileEntry(BaseModel):
    """One file of a bundle: its path inside the bundle, sha256 and size."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int = Field(ge=0)


class ProgramEntry(FileEntry):
    """A program ELF, named as the program in the settings profile."""

    name: str = Field(pattern=_PROGRAM_NAME.pattern)


class Manifest(BaseModel):
    """The immutable description of one release."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: int = FORMAT_VERSION
    programs: tuple[ProgramEntry, ...] = ()
    node_release: FileEntry | None = None
    mcp_image: str | None = None

    def canonical_json(self) -> bytes:
        """Return the manifest as sorted, compact JSON: the bytes the id hashes."""
        data = self.model_dump(mode="json")
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()

    @property
    def bundle_id(self) -> str:
        """The sha256 (hex) of :meth:`canonical_json`."""
        return hashlib.sha256(self.canonical_json()).hexdigest()

    @property
    def node_release_id(self) -> str | None:
        """The node release id: the tarball's file name without ``.tar.gz``."""
        if self.node_release is None:
            return None
        return Path(self.node_release.path).name.removesuffix(NODE_RELEASE_SUFFIX)

    def program(self, name: str) -> ProgramEntry | None:
        """Return the program called ``name``, or None when the bundle has none."""
        return next((p for p in self.programs if p.name == name), None)

    def files(self) -> list[FileEntry]:
        """Return every file entry, programs first."""
        entries: list[FileEntry] = list(self.programs)
        if self.node_release is not None:
            entries.append(self.node_release)
        return entries


class Bundle(BaseModel):
    """A verified bundle on disk."""

    model_config = ConfigDict(frozen=True)

    path: Path
    manifest: Manifest

    @property
    def bundle_id(self) -> str:
        """The manifest's hash."""
        return self.manifest.bundle_id

    def file(self, entry: FileEntry) -> Path:
        """Return the absolute path of one of the bundle's files."""
        return self.path / entry.path


def sha256_file(path: Path) -> str:
    """Return the sha256 (hex) of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def build_manifest(directory: Path) -> Manifest:
    """Read a bundle source directory and describe it.

    Raises:
        BundleLayoutError: The directory is missing, empty of parts, or contains
            a file that is not a bundle part.
    """
    directory = directory.resolve()
    if not directory.is_dir():
        raise BundleLayoutError(directory, "does not exist; pass a bundle directory")
    _reject_unknown_entries(directory)
    programs = tuple(_program_entries(directory))
    node_release = _node_release_entry(directory)
    mcp_image = _read_image(directory)
    if not programs and node_release is None and mcp_image is None:
        raise BundleLayoutError(
            directory,
            f"has no part; add {PROGRAMS_DIR}/<name>.so, "
            f"{NODES_DIR}/<release>{NODE_RELEASE_SUFFIX} or {MCP_IMAGE_NAME}",
        )
    return Manifest(programs=programs, node_release=node_release, mcp_image=mcp_image)


def _reject_unknown_entries(directory: Path) -> None:
    allowed = {PROGRAMS_DIR, NODES_DIR, MCP_IMAGE_NAME, MANIFEST_NAME}
    unknown = sorted(p.name for p in directory.iterdir() if p.name not in allowed)
    if unknown:
        raise BundleLayoutError(
            directory,
            f"contains {unknown!r}, which is no bundle part; remove it "
            f"(allowed: {sorted(allowed)!r})",
        )


def _program_entries(directory: Path) -> list[ProgramEntry]:
    programs_dir = directory / PROGRAMS_DIR
    if not programs_dir.is_dir():
        return []
    entries = []
    for path in sorted(programs_dir.iterdir()):
        name = path.stem
        if path.suffix != ".so" or not path.is_file() or not _PROGRAM_NAME.match(name):
            raise BundleLayoutError(
                directory,
                f"has {f'{PROGRAMS_DIR}/{path.name}'!r}, which is not a program ELF "
                "named <name>.so (lower case, digits, _ and -)",
            )
        entry = _file_entry(directory, f"{PROGRAMS_DIR}/{path.name}")
        entries.append(ProgramEntry(name=name, **entry.model_dump()))
    return entries


def _node_release_entry(directory: Path) -> FileEntry | None:
    nodes_dir = directory / NODES_DIR
    if not nodes_dir.is_dir():
        return None
    tarballs = sorted(nodes_dir.iterdir())
    names = [path.name for path in tarballs]
    if len(tarballs) != 1 or not tarballs[0].is_file():
        raise BundleLayoutError(
            directory,
            f"has {names!r} in {NODES_DIR}/; put exactly one "
            f"<release>{NODE_RELEASE_SUFFIX} there",
        )
    release_id = names[0].removesuffix(NODE_RELEASE_SUFFIX)
    if not names[0].endswith(NODE_RELEASE_SUFFIX) or not _NODE_RELEASE_ID.match(
        release_id
    ):
        raise BundleLayoutError(
            directory,
            f"has {f'{NODES_DIR}/{names[0]}'!r}, which is not <release>"
            f"{NODE_RELEASE_SUFFIX} with a release id of letters, digits, '.', "
            "'_' and '-'",
        )
    return _file_entry(directory, f"{NODES_DIR}/{names[0]}")


def _file_entry(directory: Path, relative: str) -> FileEntry:
    path = directory / relative
    return FileEntry(
        path=relative, sha256=sha256_file(path), size_bytes=path.stat().st_size
    )


def _read_image(directory: Path) -> str | None:
    path = directory / MCP_IMAGE_NAME
    if not path.is_file():
        return None
    image = path.read_text().strip()
    if not image or any(c.isspace() for c in image):
        raise BundleLayoutError(
            directory,
            f"has an invalid {MCP_IMAGE_NAME} ({image!r}); write one image "
            "reference such as registry.fly.io/app@sha256:<digest>",
        )
    return image


def store_bundle(source_dir: Path, store_dir: Path) -> Bundle:
    """Copy a bundle source directory into the store under its id.

    Storing the same bytes twice is a no-op that returns the stored bundle.

    Raises:
        BundleLayoutError: The source directory is not a valid bundle.
        BundleTamperedError: A source file changed while it was copied.
    """
    manifest = build_manifest(source_dir)
    bundle_id = manifest.bundle_id
    target = store_dir / bundle_id
    if (target / MANIFEST_NAME).is_file():
        return open_bundle(target)
    store_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{bundle_id[:12]}-", dir=store_dir))
    try:
        for entry in manifest.files():
            destination = staging / entry.path
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source_dir / entry.path, destination)
        if manifest.mcp_image is not None:
            (staging / MCP_IMAGE_NAME).write_text(manifest.mcp_image + "\n")
        (staging / MANIFEST_NAME).write_bytes(manifest.canonical_json())
        _verify_files(staging, manifest)
        # A rename is atomic, so a reader sees either no bundle or a whole one.
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("stored bundle %s in %s", bundle_id, target)
    return Bundle(path=target, manifest=manifest)


def open_bundle(path: Path) -> Bundle:
    """Load a stored bundle and check every hash against its manifest.

    Raises:
        BundleLayoutError: ``path`` has no readable ``manifest.json``.
        BundleTamperedError: The directory name, a file or the manifest does not
            match its hash.
    """
    path = path.resolve()
    manifest_path = path / MANIFEST_NAME
    try:
        raw = manifest_path.read_bytes()
        manifest = Manifest.model_validate_json(raw)
    except FileNotFoundError as exc:
        raise BundleLayoutError(
            path, f"has no {MANIFEST_NAME}; store it first with store_bundle"
        ) from exc
    except ValueError as exc:
        raise BundleLayoutError(path, f"has an invalid {MANIFEST_NAME}: {exc}") from exc
    actual_id = hashlib.sha256(raw).hexdigest()
    if actual_id != manifest.bundle_id:
        raise BundleTamperedError(
            manifest.bundle_id, MANIFEST_NAME, manifest.bundle_id, actual_id
        )
    if _BUNDLE_ID.match(path.name) and path.name != manifest.bundle_id:
        raise BundleTamperedError(path.name, MANIFEST_NAME, path.name, actual_id)
    _verify_files(path, manifest)
    return Bundle(path=path, manifest=manifest)


def _verify_files(directory: Path, manifest: Manifest) -> None:
    for entry in manifest.files():
        file_path = directory / entry.path
        actual = sha256_file(file_path) if file_path.is_file() else "missing"
        if actual != entry.sha256:
            raise BundleTamperedError(
                manifest.bundle_id, entry.path, entry.sha256, actual
            )
    if manifest.mcp_image is not None:
        image = (directory / MCP_IMAGE_NAME).read_text().strip()
        if image != manifest.mcp_image:
            raise BundleTamperedError(
                manifest.bundle_id,
                MCP_IMAGE_NAME,
                hashlib.sha256(manifest.mcp_image.encode()).hexdigest(),
                hashlib.sha256(image.encode()).hexdigest(),
            )


def find_bundle(store_dir: Path, bundle_id: str) -> Bundle:
    """Open the stored bundle whose id is ``bundle_id``.

    Raises:
        BundleNotFoundError: The store has no such bundle.
        BundleTamperedError: The stored copy no longer matches its manifest.
    """
    path = store_dir / bundle_id
    if not _BUNDLE_ID.match(bundle_id) or not (path / MANIFEST_NAME).is_file():
        raise BundleNotFoundError(bundle_id, store_dir)
    return open_bundle(path)


def resolve_bundle(reference: str, store_dir: Path) -> Bundle:
    """Return the bundle named by an id in the store or by a directory path.

    A source directory (no manifest yet) is stored first; a stored bundle
    directory is opened and verified.
    """
    if _BUNDLE_ID.match(reference):
        return find_bundle(store_dir, reference)
    path = Path(reference).expanduser()
    if (path / MANIFEST_NAME).is_file() and _BUNDLE_ID.match(path.resolve().name):
        return open_bundle(path)
    return store_bundle(path, store_dir)
