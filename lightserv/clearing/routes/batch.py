"""The staff-workflow actions of a clearing batch: claim, start, release and assign. Each is guarded by its
route rule here and again, against the locked row, by its service."""

from __future__ import annotations

from flask_login import current_user

from lightserv.workflow.actions import BatchActions

from .. import services
from ..access import BatchContext, batch_route
from ..forms import AssignForm
from . import bp
from .entry import BATCH, form_url, refused, render_entry

ACTIONS = BatchActions(services, services.ClearingError, refused, form_url)
ACTIONS.register(bp, BATCH, batch_route, verb="hold", started="Clearing started. Record each step as you go.")


@bp.route(BATCH + "/assign", methods=["POST"])
@batch_route("clearing.assign")
def assign(ctx: BatchContext):
    form = AssignForm()
    if not form.validate_on_submit() or not form.assignee.data:
        return render_entry(ctx, message="Choose a clearing staff member.", status=400)
    assignee = form.assignee.data
    return ACTIONS.run(
        ctx, lambda: services.assign_batch(ctx.key, assignee, current_user.get_id()), f"Batch assigned to {assignee}."
    )
