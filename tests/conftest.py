"""Shared pytest set-up: each real component has its own fixture plugin."""

pytest_plugins = [
    "tests.fixtures.localnet",
    "tests.fixtures.postgres",
    "tests.fixtures.arlocal",
    "tests.fixtures.fleet",
    "tests.fixtures.prefect",
]
