"""Release tarballs: their id, their sha256 and the sample app's builder."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from slopops.fleet.errors import InvalidReleaseError

RELEASE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# Lower case, as sha256sum on the node prints it.
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
_SUFFIXES = (".tar.gz", ".tgz")
SAMPLE_APP_DIR = Path(__file__).resolve().parent / "sample_app"


@dataclass(frozen=True)
class Release:
    """A node release: a gzipped tarball of the app, unpacked as releases/<id>."""

    release_id: str
    tarball: Path
    sha256: str

    @classmethod
    def from_tarball(
        cls, tarball: Path, release_id: str | None = None, sha256: str | None = None
    ) -> Release:
        """Describe ``tarball``; the id defaults to its name without .tar.gz.

        Args:
            tarball: The gzipped tarball, with the app at its top level.
            release_id: Id of the release; letters, digits, '.', '_' and '-'.
            sha256: Expected hash, as recorded in the release bundle; the node
                checks the uploaded bytes against it. Defaults to the file's hash.

        Raises:
            InvalidReleaseError: The file is missing, or the id or the hash is
                invalid.
        """
        if sha256 is not None and not SHA256_PATTERN.match(sha256):
            # Caught here, the typo is not reported by every node as a
            # mismatch with advice to rebuild the release.
            raise InvalidReleaseError(
                sha256,
                "a sha256 is 64 hex digits; pass the hash from the release "
                "bundle, or leave it out to use the file's",
            )
        if not tarball.is_file():
            raise InvalidReleaseError(str(tarball), "file not found; build it first")
        if release_id is None:
            release_id = _strip_suffix(tarball.name)
        if not RELEASE_ID_PATTERN.match(release_id):
            raise InvalidReleaseError(
                release_id,
                "use 1 to 128 letters, digits, '.', '_' or '-', starting with a "
                "letter or digit",
            )
        return cls(release_id, tarball, sha256 or file_sha256(tarball))


def check_release_id(release_id: str) -> str:
    """Return ``release_id`` unchanged, or raise :class:`InvalidReleaseError`."""
    if not RELEASE_ID_PATTERN.match(release_id):
        raise InvalidReleaseError(release_id, "not a valid release id")
    return release_id


def file_sha256(path: Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _strip_suffix(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    raise InvalidReleaseError(name, "a release tarball ends in .tar.gz or .tgz")


def build_sample_release(
    output_dir: Path,
    release_id: str,
    crash_at_start: bool = False,
    replace_files: dict[str, str] | None = None,
) -> Release:
    """Build a release tarball of the sample agent app into ``output_dir``.

    The tarball holds the files of ``sample_app/`` and a ``release.json``
    naming the release, which the app returns from GET /health. With
    ``crash_at_start`` the app exits with status 1 before it listens.
    ``replace_files`` maps file names to the text that replaces them.
    """
    replace_files = replace_files or {}
    check_release_id(release_id)
    output_dir.mkdir(parents=True, exist_ok=True)
    tarball = output_dir / f"{release_id}.tar.gz"
    manifest = json.dumps({"release": release_id, "crash_at_start": crash_at_start})
    with tarfile.open(tarball, "w:gz") as archive:
        files = {
            path.name: path.read_text()
            for path in sorted(SAMPLE_APP_DIR.iterdir())
            if path.is_file()
        }
        files.update(replace_files)
        files["release.json"] = manifest
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return Release.from_tarball(tarball, release_id)


def sample_app_settings(
    host: str,
    port: int,
    *,
    instances: int = 2,
    exec_mode: str = "cluster",
    listen_timeout_ms: int = 5000,
    name: str = "agent",
) -> str:
    """Return the JSON of ``<app_dir>/shared/app.json`` read by the sample app."""
    return json.dumps(
        {
            "name": name,
            "host": host,
            "port": port,
            "instances": instances,
            "exec_mode": exec_mode,
            "listen_timeout_ms": listen_timeout_ms,
        }
    )
