"""Administrative commands: `flask --app run:app <command>`."""

from __future__ import annotations

import click
from flask import Flask


def register(app: Flask) -> None:
    @app.cli.command("init-db")
    @click.option("--app-user", default=None, help="Grant this existing MariaDB account the application's privileges.")
    @click.option("--app-user-host", default="%", show_default=True)
    def init_db_command(app_user: str | None, app_user_host: str) -> None:
        """Create the DataJoint schemas and application tables, seed lookups, apply migrations."""
        from .dbinit import init_db

        applied = init_db(app, app_user=app_user, app_user_host=app_user_host)
        settings = app.config["SETTINGS"]
        click.echo(
            f"Databases with prefix {settings.dj_schema_prefix!r} are ready"
            + (f"; applied {', '.join(applied)}" if applied else "; nothing to migrate")
            + "."
        )

    @app.cli.command("create-user")
    @click.argument("username")
    @click.option("--email", default=None)
    @click.option("--full-name", default="")
    @click.option("--password", default=None, help="Local password (omit for an SSO-only account).")
    def create_user_command(username: str, email: str | None, full_name: str, password: str | None) -> None:
        """Create a user (idempotent)."""
        from .auth.services import AuthError, ensure_user

        try:
            ensure_user(username, email=email, full_name=full_name, password=password, actor=None)
        except AuthError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"User {username} exists.")

    @app.cli.command("set-password")
    @click.argument("username")
    @click.password_option()
    def set_password_command(username: str, password: str) -> None:
        """Set a user's local password."""
        from .auth.services import AuthError, set_password

        try:
            set_password(username, password, actor=None)
        except AuthError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Password of {username} set.")

    @app.cli.command("grant-role")
    @click.argument("username")
    @click.argument("role")
    def grant_role_command(username: str, role: str) -> None:
        """Grant a staff role (the first facility admin is made this way)."""
        from .auth.services import AuthError, grant_role

        try:
            changed = grant_role(username, role, actor=None)
        except AuthError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{username} {'now holds' if changed else 'already held'} {role}.")

    @app.cli.command("seed-demo")
    def seed_demo_command() -> None:
        """Create the demo accounts (DEV only) and print their logins."""
        from .demo import demo_password, seed_demo

        settings = app.config["SETTINGS"]
        if settings.lightserv_mode != "DEV":
            raise click.ClickException("seed-demo runs only with LIGHTSERV_MODE=DEV")
        password = demo_password()
        users = seed_demo(password)
        click.echo("Demo accounts (password for all: " + password + "):")
        for username, roles in users:
            click.echo(f"  {username:<11} {', '.join(roles) or 'researcher'}")
