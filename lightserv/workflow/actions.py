"""The staff actions on a team's batch page, written once: claim, start and release (and the run of any other
action, such as assign). Each POST calls the team's service, flashes its message and returns to the batch page
with 303; a refused action goes to the team's `refused` (403/404 abort, or the page again with the message)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, flash, redirect
from flask_login import current_user

from lightserv.common.permissions import roles_of


@dataclass(frozen=True)
class BatchActions:
    """A team's batch services (`claim_batch`, `start_batch`, `release_batch`), the error they raise, the view
    of a refusal and the URL of the batch page."""

    services: Any
    error: type[Exception]
    refused: Callable[[Any, Any], Any]
    url: Callable[[Any], str]

    def run(self, ctx: Any, call: Callable[[], object], message: str | Callable[[Any], str]):
        """Run `call`; flash `message` (or `message(result)`) and redirect to the batch page, or show the refusal."""
        try:
            result = call()
        except self.error as exc:
            return self.refused(ctx, exc)
        flash(message(result) if callable(message) else message, "success")
        return redirect(self.url(ctx), 303)

    def register(self, bp: Blueprint, base_url: str, guard: Callable[[str], Callable], *, verb: str, started: str):
        """Add the POST routes `<base_url>/claim`, `/start` and `/release` to `bp` as the endpoints `claim`, `start`
        and `release`, guarded by `guard("<team>.claim")`, `guard("<team>.open_batch")` and
        `guard("<team>.release")`. Their messages: "You now <verb> this batch.", `started`, "The batch was
        released; it has no <holder> now."."""
        svc = self.services

        def claim(ctx: Any):
            return self.run(
                ctx,
                lambda: svc.claim_batch(ctx.key, current_user.get_id()),
                lambda changed: f"You {'now' if changed else 'already'} {verb} this batch.",
            )

        def start(ctx: Any):
            return self.run(
                ctx, lambda: svc.start_batch(ctx.key, current_user.get_id(), roles_of(current_user)), started
            )

        def release(ctx: Any):
            return self.run(
                ctx,
                lambda: svc.release_batch(ctx.key, current_user.get_id(), roles_of(current_user)),
                f"The batch was released; it has no {ctx.holder} now.",
            )

        for view, rule in ((claim, "claim"), (start, "open_batch"), (release, "release")):
            endpoint = view.__name__
            bp.add_url_rule(f"{base_url}/{endpoint}", endpoint, guard(f"{bp.name}.{rule}")(view), methods=["POST"])
