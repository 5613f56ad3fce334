"""Create a mem0-shaped PostgreSQL database with generated rows.

Tests, the benchmark and the demo use it. The shape follows mem0 on pgvector:
a ``memories`` table with an embedding column and an HNSW index, and a
``memory_history`` table of changes.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

logger = logging.getLogger(__name__)

# Rows per INSERT ... SELECT statement, so each statement stays short.
_BATCH_ROWS = 5_000


def create_database(admin_dsn: str, name: str) -> None:
    """Create the empty database ``name`` on the server of ``admin_dsn``."""
    with psycopg.connect(admin_dsn, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(admin_dsn: str, name: str) -> None:
    """Drop the database ``name``, closing its open connections."""
    with psycopg.connect(admin_dsn, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)
            )
        )


def create_schema(dsn: str, dimensions: int, *, index: str | None = "hnsw") -> None:
    """Create the pgvector extension and the mem0 tables in ``dsn``.

    Args:
        dsn: An empty database.
        dimensions: Embedding size.
        index: ``"hnsw"`` to create the embedding index now, or None to add
            it later with :func:`create_vector_index` (faster bulk loads).
    """
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
        connection.execute(
            sql.SQL(
                """
                CREATE TABLE memories (
                    id uuid PRIMARY KEY,
                    user_id text NOT NULL,
                    agent_id text,
                    text text NOT NULL,
                    metadata jsonb NOT NULL DEFAULT '{{}}',
                    created_at timestamptz NOT NULL DEFAULT now(),
                    embedding vector({dimensions}) NOT NULL
                )
                """
            ).format(dimensions=sql.Literal(dimensions))
        )
        connection.execute("CREATE INDEX memories_user_id ON memories (user_id)")
        connection.execute(
            """
            CREATE TABLE memory_history (
                id bigserial PRIMARY KEY,
                memory_id uuid NOT NULL REFERENCES memories (id),
                event text NOT NULL,
                old_text text,
                new_text text,
                created_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
    if index is not None:
        create_vector_index(dsn, index)


def create_vector_index(dsn: str, kind: str = "hnsw") -> None:
    """Index the embeddings with pgvector's ``hnsw`` or ``ivfflat`` method."""
    if kind == "hnsw":
        statement = (
            "CREATE INDEX memories_embedding_hnsw ON memories "
            "USING hnsw (embedding vector_cosine_ops)"
        )
    elif kind == "ivfflat":
        statement = (
            "CREATE INDEX memories_embedding_ivfflat ON memories "
            "USING ivfflat (embedding vector_cosine_ops) WITH (lists = 100)"
        )
    else:
        raise ValueError(f"index kind {kind!r} is invalid; use 'hnsw' or 'ivfflat'")
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(statement)


def insert_memories(
    dsn: str, rows: int, dimensions: int, *, text_bytes: int = 200, marker: str = ""
) -> None:
    """Insert ``rows`` random memories and one history row for each.

    Args:
        dsn: Database holding the mem0 schema.
        rows: Number of memories to add.
        dimensions: Embedding size, as in the schema.
        text_bytes: Approximate length of each memory's text.
        marker: Text placed in every memory, for tests that look for it.
    """
    # md5 hex digests are 32 characters; repeat enough of them for text_bytes.
    repeats = max(1, text_bytes // 32)
    # Each batch adds its memories and their history rows in one statement.
    statement = sql.SQL(
        """
        WITH added AS (
        INSERT INTO memories (id, user_id, agent_id, text, metadata, embedding)
        SELECT gen_random_uuid(),
               'user-' || mod(g, 97),
               'agent-' || mod(g, 7),
               {marker} || (SELECT string_agg(md5(random()::text), ' ')
                            FROM generate_series(1, {repeats}) WHERE g > 0),
               jsonb_build_object('source', 'generated', 'n', g),
               (SELECT array_agg(random())::vector
                FROM generate_series(1, {dimensions}) WHERE g > 0)
        FROM generate_series(1, %s) AS g
        RETURNING id, text
        )
        INSERT INTO memory_history (memory_id, event, new_text)
        SELECT id, 'ADD', text FROM added
        """
    ).format(
        marker=sql.Literal(marker),
        repeats=sql.Literal(repeats),
        dimensions=sql.Literal(dimensions),
    )
    with psycopg.connect(dsn, autocommit=True) as connection:
        remaining = rows
        while remaining > 0:
            batch = min(remaining, _BATCH_ROWS)
            connection.execute(statement, (batch,))
            remaining -= batch
    logger.info("inserted %d memories of %d dimensions", rows, dimensions)
