"""Accounts and API tokens: create, list, update, disable, enable, reset, revoke."""

import click
from flask.cli import AppGroup

from lessons.errors import Conflict, NotFound, ValidationError
from lessons.fields import MAX_ID
from lessons.services.users import (
    ROLES,
    SCOPES,
    create_token,
    create_user,
    disable_user,
    enable_user,
    get_user_by_email,
    list_users,
    reset_password,
    revoke_token,
    update_user,
)
from web.cli.common import OPERATOR, problem
from web.database import db


@click.group("users", cls=AppGroup)
def users_group() -> None:
    """Accounts: create, list, update, disable, enable, reset a password."""


@users_group.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(list(ROLES)), required=True)
@click.option("--password", default=None, help="Prompted for (hidden) when not given.")
@click.option("--name", default=None)
@click.option("--business-unit", default=None)
def users_create_command(email: str, role: str, password: str | None, name: str | None,
                         business_unit: str | None) -> None:
    """Create an account that signs in with EMAIL."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = create_user(db.session, email, role, password, name=name,
                           business_unit=business_unit, actor=OPERATOR)
    except ValidationError as error:
        raise click.ClickException(problem(error)) from None
    db.session.commit()
    click.echo(f"Created {user.email} ({ROLES[role]}).")


@users_group.command("list")
def users_list_command() -> None:
    """Every account, its role and state."""
    for user in list_users(db.session):
        state = "disabled" if user.disabled_at else "enabled"
        click.echo(f"{user.email}\t{user.role}\t{state}\t{user.business_unit or ''}")


@users_group.command("disable")
@click.argument("email")
def users_disable_command(email: str) -> None:
    """Stop EMAIL signing in; its sessions and tokens end at once."""
    try:
        user = get_user_by_email(db.session, email)
        disable_user(db.session, user, actor=OPERATOR)
    except (NotFound, Conflict) as error:
        raise click.ClickException(error.message) from None
    db.session.commit()
    click.echo(f"Disabled {user.email}.")


@users_group.command("enable")
@click.argument("email")
def users_enable_command(email: str) -> None:
    """Let a disabled EMAIL sign in again (its old API tokens stay revoked)."""
    try:
        user = get_user_by_email(db.session, email)
    except NotFound as error:
        raise click.ClickException(error.message) from None
    enable_user(db.session, user, actor=OPERATOR)
    db.session.commit()
    click.echo(f"Enabled {user.email}.")


@users_group.command("update")
@click.argument("email")
@click.option("--role", type=click.Choice(list(ROLES)), default=None)
@click.option("--name", default=None)
@click.option("--business-unit", default=None, help="An empty value clears it.")
def users_update_command(email: str, role: str | None, name: str | None,
                         business_unit: str | None) -> None:
    """Change the role, name or business unit of EMAIL (the options given)."""
    given = {"role": role, "name": name, "business_unit": business_unit}
    try:
        user = get_user_by_email(db.session, email)
        changes = update_user(db.session, user, {k: v for k, v in given.items() if v is not None},
                              actor=OPERATOR)
    except (NotFound, Conflict, ValidationError) as error:
        raise click.ClickException(error.message) from None
    db.session.commit()
    click.echo(f"Updated {user.email}: " + (", ".join(changes) or "nothing changed") + ".")


@users_group.command("reset-password")
@click.argument("email")
def users_reset_password_command(email: str) -> None:
    """Give EMAIL a new one-time password (printed once, alone on the last line), to change
    at the next sign-in; its sessions end. The way back in for a lost admin password."""
    try:
        user = get_user_by_email(db.session, email)
    except NotFound as error:
        raise click.ClickException(error.message) from None
    password = reset_password(db.session, user, actor=OPERATOR)
    db.session.commit()
    state = " (the account is disabled: `lessons users enable` it too)" if user.disabled_at else ""
    click.echo(f"New one-time password for {user.email}{state}; it is shown only now, and is "
               "changed at the next sign-in:")
    click.echo(password)


@click.group("tokens", cls=AppGroup)
def tokens_group() -> None:
    """API tokens: create, revoke."""


@tokens_group.command("create")
@click.argument("email")
@click.option("--scope", type=click.Choice(list(SCOPES)), required=True)
@click.option("--name", default=None, help="What the token is for.")
def tokens_create_command(email: str, scope: str, name: str | None) -> None:
    """Create an API token for EMAIL; the token is printed once, alone on the last line."""
    try:
        token, secret = create_token(db.session, get_user_by_email(db.session, email), scope, name,
                                     actor=OPERATOR)
    except (NotFound, Conflict, ValidationError) as error:
        raise click.ClickException(error.message) from None
    db.session.commit()
    click.echo(f"Token {token.id} ({SCOPES[scope].lower()}) for {email}; it is shown only now:")
    click.echo(secret)


@tokens_group.command("revoke")
@click.argument("token_id", type=click.IntRange(1, MAX_ID))
def tokens_revoke_command(token_id: int) -> None:
    """Revoke the API token TOKEN_ID."""
    try:
        revoke_token(db.session, None, token_id, actor=OPERATOR)  # anyone's
    except NotFound:
        raise click.ClickException(f"No token {token_id}.") from None
    db.session.commit()
    click.echo(f"Revoked token {token_id}.")
