"""A malformed stack.json gives one ``error:`` line, not a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slopops.cli import main
from slopops.stack.errors import StackConfigError
from slopops.stack.process import free_port
from slopops.stack.services import (
    CONFIG_FILE_NAME,
    StackConfig,
    load_config,
    save_config,
)


def _saved(state_dir: Path) -> dict:
    """Save a valid stack.json with one node and return its JSON."""
    node = {
        "name": "node-1",
        "host": "127.0.0.2",
        "port": free_port(),
        "client_key": str(state_dir / "key"),
        "known_hosts": str(state_dir / "known_hosts"),
        "pm2_homes": [str(state_dir / "pm2")],
    }
    save_config(StackConfig(state_dir=state_dir, prefect_port=free_port()))
    path = state_dir / CONFIG_FILE_NAME
    data = json.loads(path.read_text())
    data["nodes"] = [node]
    path.write_text(json.dumps(data))
    return data


def _change(data: dict, key: str, value: object) -> dict:
    """Return ``data`` with ``key`` set to ``value``, or removed for ``...``."""
    changed = dict(data)
    if value is ...:
        del changed[key]
    else:
        changed[key] = value
    return changed


# (case, key, value, text naming the problem): each breaks one saved option.
BROKEN = [
    ("missing state_dir", "state_dir", ..., "missing key 'state_dir'"),
    ("missing chains", "chains", ..., "missing key 'chains'"),
    ("port as text", "prefect_port", "4200", "prefect_port: Input should be"),
    ("port as bool", "arlocal_port", True, "arlocal_port: Input should be"),
    ("host as number", "host", 5, "host: Input should be a valid string"),
    ("chain without port", "chains", [["local"]], "chains.0.1: Field required"),
    ("node without host", "nodes", [{"name": "n"}], "nodes.0.host: Field required"),
    ("remote host", "host", "10.0.0.1", "not a loopback address"),
    ("chain twice", "chains", [["a", 1], ["a", 2]], "chain 'a' is given twice"),
]


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [case[1:] for case in BROKEN],
    ids=[case[0] for case in BROKEN],
)
def test_load_rejects_broken_option(
    tmp_path: Path, key: str, value: object, problem: str
) -> None:
    data = _change(_saved(tmp_path), key, value)
    (tmp_path / CONFIG_FILE_NAME).write_text(json.dumps(data))

    with pytest.raises(StackConfigError) as caught:
        load_config(tmp_path)

    message = str(caught.value)
    assert caught.value.path == tmp_path / CONFIG_FILE_NAME
    assert message.startswith(f"stack options file {str(tmp_path / 'stack.json')!r}")
    assert problem in message
    assert "delete it" in message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"state_dir": ', "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ("\udcff", "not valid JSON"),
    ],
    ids=["truncated", "array", "not utf-8"],
)
def test_load_rejects_bad_json(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / CONFIG_FILE_NAME).write_bytes(text.encode(errors="surrogateescape"))

    with pytest.raises(StackConfigError, match=problem):
        load_config(tmp_path)


def test_load_rejects_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / CONFIG_FILE_NAME).mkdir()

    with pytest.raises(StackConfigError, match="is invalid: unreadable"):
        load_config(tmp_path)


def test_saved_options_load_again(tmp_path: Path) -> None:
    data = _saved(tmp_path)

    config = load_config(tmp_path)

    assert config.prefect_port == data["prefect_port"]
    assert config.nodes[0].pm2_homes == (tmp_path / "pm2",)
    assert config.state_dir == tmp_path.resolve()


@pytest.mark.parametrize("command", ["up", "status", "down"])
def test_commands_print_one_error_line(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / CONFIG_FILE_NAME).write_text('{"state_dir": ')

    with pytest.raises(SystemExit) as caught:
        main(["stack", command, "--state-dir", str(tmp_path)])

    assert caught.value.code == 1
    stderr = capsys.readouterr().err
    assert stderr.startswith("error: stack options file ")
    assert str(tmp_path / CONFIG_FILE_NAME) in stderr
    assert f"slopops stack down --state-dir {tmp_path}" in stderr
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1
