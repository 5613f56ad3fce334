"""Checks that the PostgreSQL and arlocal fixtures start real services."""

import httpx
import psycopg

from tests.fixtures.postgres import MEM0_ROWS, PLAINTEXT_MARKER


def test_mem0_database_has_vectors(mem0_database) -> None:
    with psycopg.connect(mem0_database.dsn) as connection:
        count, dims, marked = connection.execute(
            "SELECT count(*), vector_dims(min(embedding::text)::vector), "
            "count(*) FILTER (WHERE text LIKE %s) FROM memories",
            (PLAINTEXT_MARKER + "%",),
        ).fetchone()
    assert count == MEM0_ROWS
    assert dims == 32
    assert marked == MEM0_ROWS


def test_arlocal_answers_info(arlocal) -> None:
    assert httpx.get(f"{arlocal}/info").json()["network"].startswith("arlocal")
