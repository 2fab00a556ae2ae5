"""Administrative commands: `flask --app run:app <command>`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import Flask


def register(app: Flask) -> None:
    from .backup.commands import register as register_backup_commands

    register_atlas_commands(app)  # install-atlas, below
    register_backup_commands(app)  # backup, restore
    register_database_commands(app)  # init-db
    register_account_commands(app)  # create-user, set-password, grant-role
    register_demo_commands(app)  # seed-demo


def register_database_commands(app: Flask) -> None:
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


# --- accounts -------------------------------------------------------------------


@contextmanager
def _refusals_as_click_errors() -> Iterator[None]:
    """An account change the auth services refuse ends the command with their message."""
    from .auth.services import AuthError

    try:
        yield
    except AuthError as exc:
        raise click.ClickException(str(exc)) from None


def register_account_commands(app: Flask) -> None:
    @app.cli.command("create-user")
    @click.argument("username")
    @click.option("--email", default=None)
    @click.option("--full-name", default="")
    @click.option("--password", default=None, help="Local password (omit for an SSO-only account).")
    def create_user_command(username: str, email: str | None, full_name: str, password: str | None) -> None:
        """Create a user (idempotent)."""
        from .auth.services import ensure_user

        with _refusals_as_click_errors():
            ensure_user(username, email=email, full_name=full_name, password=password, actor=None)
        click.echo(f"User {username} exists.")

    @app.cli.command("set-password")
    @click.argument("username")
    @click.password_option()
    def set_password_command(username: str, password: str) -> None:
        """Set a user's local password."""
        from .auth.services import set_password

        with _refusals_as_click_errors():
            set_password(username, password, actor=None)
        click.echo(f"Password of {username} set.")

    @app.cli.command("grant-role")
    @click.argument("username")
    @click.argument("role")
    def grant_role_command(username: str, role: str) -> None:
        """Grant a staff role (the first facility admin is made this way)."""
        from .auth.services import grant_role

        with _refusals_as_click_errors():
            changed = grant_role(username, role, actor=None)
        click.echo(f"{username} {'now holds' if changed else 'already held'} {role}.")


# --- demo -----------------------------------------------------------------------


def register_demo_commands(app: Flask) -> None:
    @app.cli.command("seed-demo")
    def seed_demo_command() -> None:
        """Create the demo accounts and one demo request in every state (DEV only; idempotent), print them."""
        import time

        from .demo import DemoError, demo_password, seed_demo, seed_demo_requests

        settings = app.config["SETTINGS"]
        if settings.lightserv_mode != "DEV":
            raise click.ClickException("seed-demo runs only with LIGHTSERV_MODE=DEV")
        password = demo_password()
        users = seed_demo(password)
        click.echo("Demo accounts (password for all: " + password + "):")
        for username, roles in users:
            click.echo(f"  {username:<11} {', '.join(roles) or 'researcher'}")
        started = time.monotonic()
        try:
            seeded = seed_demo_requests(echo=click.echo)
        except DemoError as exc:
            raise click.ClickException(f"demo requests: {exc}") from None
        made = sum(s.created for s in seeded)
        took = f" in {time.monotonic() - started:.0f} s" if made else ""
        click.echo(f"Demo requests of researcher ({made} new{took}; log in as researcher, or as staff):")
        for s in seeded:
            click.echo(f"  {s.name:<16} {s.state:<11} {s.link}" + (f"  ({s.extra})" if s.extra else ""))


# --- atlases --------------------------------------------------------------------


def register_atlas_commands(app: Flask) -> None:
    @app.cli.command("install-atlas")
    @click.option("--name", "atlas_name", required=True, help="allen_2017, allen_2011, princeton_mouse_atlas, paxinos")
    @click.option("--template", required=True, type=click.Path(dir_okay=False), help="Registration target (3-D TIFF).")
    @click.option("--annotation", required=True, type=click.Path(dir_okay=False), help="Label volume (3-D TIFF).")
    @click.option("--ontology", required=True, type=click.Path(dir_okay=False), help="Structure graph (JSON).")
    @click.option("--precomputed/--no-precomputed", default=True, show_default=True,
                  help="Build the viewer's segmentation layer of the annotation.")  # fmt: skip
    @click.option("--activate/--inactive", default=True, show_default=True, help="Offer the atlas for processing.")
    def install_atlas_command(
        atlas_name: str, template: str, annotation: str, ontology: str, precomputed: bool, activate: bool
    ) -> None:
        """Check an atlas's files, copy them into ATLAS_ROOT/<name>/ and register them."""
        from pathlib import Path

        from .admin.atlases import AtlasInstallError, install_atlas

        try:
            done = install_atlas(atlas_name, Path(template), Path(annotation), Path(ontology), precomputed=precomputed,
                                 activate=activate)  # fmt: skip
        except AtlasInstallError as exc:
            raise click.ClickException(
                f"The atlas {atlas_name} was not installed:\n" + "\n".join(f"  - {p}" for p in exc.problems)
            ) from None
        z, y, x = done.shape
        click.echo(
            f"Installed {atlas_name} in {done.folder}: {z}×{y}×{x} voxels (z, y, x), {done.labels} labels, every one "
            f"named in the ontology ({done.regions} structures)"
            + (f"; viewer layer with {done.scales} scale{'s' if done.scales != 1 else ''}" if done.scales else "")
            + ("." if activate else "; not offered for processing (--inactive).")
        )
        if done.previous is not None:
            click.echo(f"The previous files are kept in {done.previous} until the next installation.")
