"""``safetylens human init | serve``: create or upgrade the database, run the web app."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from safetylens.cli import console, err_console
from safetylens.cli.human.common import DbOpt, human_app, open_db, read_password


@human_app.command("init")
def init(
    db: DbOpt = None,
    admin: Annotated[str | None, typer.Option(help="also create this admin user")] = None,
    password_stdin: Annotated[bool, typer.Option(help="read the admin password from standard input")] = False,
) -> None:
    """Create the database, or upgrade it to the latest schema (safe to run again)."""
    from safetylens.human.auth import create_user
    from safetylens.human.db import current_revision, upgrade

    database = open_db(db, check=False)
    before = current_revision(database.engine)
    upgrade(database)
    after = current_revision(database.engine)
    state = "created" if before is None else ("already up to date" if before == after else f"upgraded from {before}")
    console.print(f"database {escape(database.display_url)}: schema {after} ({state})")
    if admin:
        password = read_password(password_stdin, f"Password for {admin}")
        create_user(database, admin, password, "admin")
        console.print(f"admin user {escape(admin)} created")


@human_app.command("serve")
def serve(
    db: DbOpt = None,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes (use PostgreSQL for more than one)")] = 1,
    secure_cookies: Annotated[bool, typer.Option(help="mark cookies Secure (serve behind HTTPS)")] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    db_concurrency: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="PostgreSQL: rating transactions each worker runs at once; the rest queue "
            "(default: twice the CPUs; more concurrency made the database slower)",
        ),
    ] = None,
) -> None:
    """Run the web app with uvicorn."""
    import os

    import uvicorn

    from safetylens.human.app import ENV_DB_CONCURRENCY

    database = open_db(db)
    if workers > 1 and database.is_sqlite:
        err_console.print(
            "[yellow]note:[/] several workers on one SQLite file work, but writes are serialised; "
            "use PostgreSQL for heavy use"
        )
    os.environ["SAFETYLENS_HUMAN_DB"] = database.url
    if secure_cookies:
        os.environ["SAFETYLENS_SECURE_COOKIES"] = "1"
    if db_concurrency is not None:
        os.environ[ENV_DB_CONCURRENCY] = str(db_concurrency)
    database.dispose()
    console.print(f"serving {escape(database.display_url)} on http://{host}:{port}/")
    uvicorn.run(
        "safetylens.human.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        proxy_headers=True,
    )
