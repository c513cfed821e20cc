"""Datasette (explore and publish data, ASGI) as a user would deploy it: a factory that an ASGI
server calls (`datasette_asgi:create_app()`), serving one SQLite database next to this file."""

from pathlib import Path

from datasette.app import Datasette


def create_app() -> object:
    return Datasette([str(Path(__file__).with_name("fixtures.db"))], settings={"num_sql_threads": 1}).app()
