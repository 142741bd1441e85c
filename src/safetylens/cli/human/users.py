"""``safetylens human add-user | users | set-user``: accounts."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from safetylens.cli import console
from safetylens.cli.human.common import DbOpt, human_app, open_db, read_password
from safetylens.errors import ConfigError


@human_app.command("add-user")
def add_user(
    username: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[str, typer.Option(help="admin | researcher | rater")] = "rater",
    db: DbOpt = None,
    password_stdin: Annotated[bool, typer.Option(help="read the password from standard input")] = False,
) -> None:
    """Add a user (asks for the password, or reads it from standard input)."""
    from safetylens.human.auth import create_user, validate_new_user

    database = open_db(db)
    validate_new_user(username, "x" * 64, role)
    password = read_password(password_stdin)
    user = create_user(database, username, password, role)
    console.print(f"{escape(role)} {escape(username)} added (pseudonym {escape(user.pseudonym)})")


@human_app.command("users")
def users(db: DbOpt = None) -> None:
    """List users."""
    from sqlalchemy import select

    from safetylens.human.models import User

    database = open_db(db)
    table = Table(title="users", title_justify="left")
    for col in ("user", "pseudonym", "role", "status", "last login (UTC)"):
        table.add_column(col)
    with database.read() as s:
        for u in s.scalars(select(User).order_by(User.username)):
            last = u.last_login_at.strftime("%Y-%m-%d %H:%M") if u.last_login_at else "never"
            table.add_row(escape(u.username), u.pseudonym, u.role, u.status, last)
    console.print(table)


@human_app.command("set-user")
def set_user(
    username: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[str | None, typer.Option(help="admin | researcher | rater")] = None,
    status: Annotated[str | None, typer.Option(help="active | paused | removed")] = None,
    password: Annotated[bool, typer.Option("--password", help="set a new password (asked for)")] = False,
    password_stdin: Annotated[bool, typer.Option(help="read the new password from standard input")] = False,
    db: DbOpt = None,
) -> None:
    """Change a user's role, status or password."""
    from sqlalchemy import select

    from safetylens.human.auth import set_password, update_user
    from safetylens.human.models import User

    database = open_db(db)
    with database.read() as s:
        user = s.scalar(select(User).where(User.username == username))
    if user is None:
        raise ConfigError(f"no user {username!r}", hint="list users with: safetylens human users")
    if role or status:
        update_user(database, user.id, role=role, status=status)
    if password or password_stdin:
        set_password(database, username, read_password(password_stdin))
    console.print(f"user {escape(username)} updated")
