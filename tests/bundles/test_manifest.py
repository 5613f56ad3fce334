"""Release bundles: ids, storage and tamper detection."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from slopops.bundles import (
    BundleLayoutError,
    BundleNotFoundError,
    BundleTamperedError,
    build_manifest,
    find_bundle,
    open_bundle,
    resolve_bundle,
    store_bundle,
)


def make_source(
    root: Path, program: bytes = b"\x7fELF program", image: str = "img:1"
) -> Path:
    source = root / "source"
    (source / "programs").mkdir(parents=True)
    (source / "programs" / "slop_registry.so").write_bytes(program)
    (source / "nodes").mkdir()
    (source / "nodes" / "agent-1.2.0.tar.gz").write_bytes(b"node tarball")
    (source / "mcp-image.txt").write_text(image + "\n")
    return source


def test_bundle_id_stable_across_copies(tmp_path: Path) -> None:
    first = build_manifest(make_source(tmp_path / "a"))
    second = build_manifest(make_source(tmp_path / "b"))
    assert first.bundle_id == second.bundle_id
    assert len(first.bundle_id) == 64


def test_bundle_id_ignores_mtime(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    before = build_manifest(source).bundle_id
    os.utime(source / "programs" / "slop_registry.so", (1, 1))
    assert build_manifest(source).bundle_id == before


@pytest.mark.parametrize(
    ("program", "image"),
    [(b"\x7fELF program!", "img:1"), (b"\x7fELF program", "img:2")],
)
def test_bundle_id_changes_with_any_part(
    tmp_path: Path, program: bytes, image: str
) -> None:
    base = build_manifest(make_source(tmp_path / "a")).bundle_id
    changed = build_manifest(make_source(tmp_path / "b", program, image)).bundle_id
    assert changed != base


def test_manifest_lists_parts(tmp_path: Path) -> None:
    manifest = build_manifest(make_source(tmp_path))
    assert [p.name for p in manifest.programs] == ["slop_registry"]
    assert manifest.node_release is not None
    assert manifest.node_release_id == "agent-1.2.0"
    assert manifest.mcp_image == "img:1"


def test_store_then_open_verifies(tmp_path: Path) -> None:
    stored = store_bundle(make_source(tmp_path), tmp_path / "store")
    assert stored.path.name == stored.bundle_id
    assert open_bundle(stored.path).bundle_id == stored.bundle_id
    assert find_bundle(tmp_path / "store", stored.bundle_id).path == stored.path


def test_store_twice_is_noop(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    first = store_bundle(source, tmp_path / "store")
    second = store_bundle(source, tmp_path / "store")
    assert first.path == second.path
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == [first.bundle_id]


def test_tampered_program_detected(tmp_path: Path) -> None:
    stored = store_bundle(make_source(tmp_path), tmp_path / "store")
    (stored.path / "programs" / "slop_registry.so").write_bytes(b"\x7fELF evil")
    with pytest.raises(BundleTamperedError, match="programs/slop_registry.so") as info:
        open_bundle(stored.path)
    assert info.value.bundle_id == stored.bundle_id


def test_tampered_manifest_detected(tmp_path: Path) -> None:
    stored = store_bundle(make_source(tmp_path), tmp_path / "store")
    manifest = stored.path / "manifest.json"
    manifest.write_text(manifest.read_text().replace("img:1", "img:9"))
    with pytest.raises(BundleTamperedError):
        open_bundle(stored.path)


def test_tampered_image_file_detected(tmp_path: Path) -> None:
    stored = store_bundle(make_source(tmp_path), tmp_path / "store")
    (stored.path / "mcp-image.txt").write_text("img:evil\n")
    with pytest.raises(BundleTamperedError, match="mcp-image.txt"):
        open_bundle(stored.path)


def test_missing_file_detected(tmp_path: Path) -> None:
    stored = store_bundle(make_source(tmp_path), tmp_path / "store")
    (stored.path / "nodes" / "agent-1.2.0.tar.gz").unlink()
    with pytest.raises(BundleTamperedError, match="missing"):
        open_bundle(stored.path)


def test_unknown_file_rejected(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    (source / "notes.txt").write_text("x")
    with pytest.raises(BundleLayoutError, match="notes.txt"):
        build_manifest(source)


def test_empty_directory_rejected(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleLayoutError, match="has no part"):
        build_manifest(tmp_path / "empty")


def test_bad_program_name_rejected(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    (source / "programs" / "Bad Name.so").write_bytes(b"x")
    with pytest.raises(BundleLayoutError, match="Bad Name.so"):
        build_manifest(source)


def test_unknown_id_not_found(tmp_path: Path) -> None:
    with pytest.raises(BundleNotFoundError):
        find_bundle(tmp_path, "0" * 64)


def test_resolve_by_directory_and_id(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    stored = resolve_bundle(str(source), tmp_path / "store")
    again = resolve_bundle(stored.bundle_id, tmp_path / "store")
    assert again.path == stored.path
    assert resolve_bundle(str(stored.path), tmp_path / "store").path == stored.path


def test_two_node_releases_rejected(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    (source / "nodes" / "agent-1.3.0.tar.gz").write_bytes(b"other")
    with pytest.raises(BundleLayoutError, match="exactly one"):
        build_manifest(source)


def test_bad_node_release_name_rejected(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    (source / "nodes" / "agent-1.2.0.tar.gz").rename(source / "nodes" / "agent.zip")
    with pytest.raises(BundleLayoutError, match="agent.zip"):
        build_manifest(source)
