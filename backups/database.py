"""Consistent database dumps and restores: pg_dump/pg_restore on PostgreSQL, SQLite's online backup API.

Row counts are taken from the very snapshot that is dumped (PostgreSQL: an exported snapshot
shared with pg_dump; SQLite: the copy itself), so the manifest always matches the dump.
"""

import os
import sqlite3
import subprocess
from pathlib import Path

from django.db import connection, transaction

from zeke_rft.errors import ApplicationError


class BackupError(ApplicationError):
    """A backup or restore that cannot go on; the message names what is wrong in one line."""


def database_tables() -> list[str]:
    return sorted(connection.introspection.table_names())


def _counts(cursor, tables) -> dict[str, int]:
    quote = connection.ops.quote_name
    counts = {}
    for table in tables:
        cursor.execute(f"SELECT COUNT(*) FROM {quote(table)}")  # noqa: S608 - names from introspection
        counts[table] = cursor.fetchone()[0]
    return counts


def table_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        return _counts(cursor, database_tables())


def _postgres_environment() -> dict:
    db = connection.settings_dict
    env = {**os.environ, "PGDATABASE": db["NAME"], "PGUSER": db["USER"] or "", "PGPASSWORD": db["PASSWORD"] or ""}
    env.update(PGHOST=db["HOST"] or "", PGPORT=str(db["PORT"] or ""))
    return env


def _run(command: list[str]) -> None:
    try:
        result = subprocess.run(command, env=_postgres_environment(), capture_output=True, text=True, timeout=3600)
    except FileNotFoundError:
        raise BackupError(f"{command[0]} is not installed (apt-get install postgresql-client)") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise BackupError(f"{command[0]} failed: {last}")


def dump_postgres(target: Path) -> dict[str, int]:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        counts = _counts(cursor, database_tables())
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-acl", f"--snapshot={snapshot}", "-f", str(target)])
    return counts


def dump_sqlite(target: Path) -> dict[str, int]:
    connection.ensure_connection()
    with sqlite3.connect(target) as copy:
        connection.connection.backup(copy)
        tables = [t for (t,) in copy.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return _counts(copy.cursor(), sorted(t for t in tables if not t.startswith("sqlite_")))


def dump_database(target: Path) -> dict[str, int]:
    """Write the dump to `target`; return the row count of every table, as dumped."""
    if connection.vendor == "postgresql":
        return dump_postgres(target)
    if connection.vendor == "sqlite":
        return dump_sqlite(target)
    raise BackupError(f"backups support PostgreSQL and SQLite, not {connection.vendor}")


def restore_database(source: Path) -> None:
    if connection.vendor == "postgresql":
        database = connection.settings_dict["NAME"]
        _run(
            [
                "pg_restore",
                "--no-owner",
                "--no-acl",
                "--exit-on-error",
                "--single-transaction",
                "-d",
                database,
                str(source),
            ]
        )
        connection.close()  # cached introspection and sequences are stale now
        return
    connection.ensure_connection()
    with sqlite3.connect(source) as dump:
        dump.backup(connection.connection)
