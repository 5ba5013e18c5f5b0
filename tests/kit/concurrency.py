"""Concurrency tests on SQLite: a real database file for a test whose threads write at once.

The fast tier's test database is SQLite in memory, shared between connections through
SQLite's shared cache. In shared-cache mode a second connection that touches a table another
connection is writing gets "database table is locked" at once (SQLITE_LOCKED): the busy
timeout does not apply, so two threads that write together fail there, although the clinic's
real SQLite (a file in WAL mode, IMMEDIATE transactions, a busy timeout: clinic/settings.py)
makes the second writer wait. `on_a_database_file` moves one test onto a file copy of the test
database, opened with the clinic's own options, and back afterwards; on PostgreSQL (or a file
already) it changes nothing. Use it in a `django_db(transaction=True)` test, before any row is
made:

    @pytest.fixture(autouse=True)
    def _database_file(transactional_db, tmp_path):
        with on_a_database_file(tmp_path):
            yield
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from django.db import connection


@contextmanager
def on_a_database_file(directory: Path) -> Iterator[None]:
    if connection.vendor != "sqlite" or not connection.is_in_memory_db():
        yield
        return
    if connection.in_atomic_block:
        raise RuntimeError("Move to a database file only in a django_db(transaction=True) test.")
    # Threads open their connections from this same settings dict, so they follow it.
    settings = connection.settings_dict
    memory = settings["NAME"]
    connection.ensure_connection()
    with closing(sqlite3.connect(directory / "test.sqlite3")) as copy:
        connection.connection.backup(copy)  # the migrated schema and its rows, as Django does
    # The shared in-memory database lives while one connection holds it: hold it here.
    keeper = sqlite3.connect(memory, uri=True)
    try:
        settings["NAME"] = str(directory / "test.sqlite3")
        connection.close()  # the in-memory connection; the next query opens the file
        try:
            yield
        finally:
            connection.close()
            settings["NAME"] = memory
            connection.ensure_connection()
    finally:
        keeper.close()
