"""HTTP endpoints of the tasks service: parse, call a use case, serialize. No rules here."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from services.tasks import schemas, service
from services.tasks.service import TasksDeps
from shared.auth import Principal
from shared.web import Blueprint, authenticated, context

tasks = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks", description="Adopted tasks (实事领办)")
points = Blueprint("points", __name__, url_prefix="/api/v1/points", description="Points (积分) rankings")
stats = Blueprint("task_stats", __name__, url_prefix="/api/v1/stats", description="Task statistics")

ANY_OFFICER = ("township_officer", "org_department", "admin")


def deps() -> TasksDeps:
    return context().extras["tasks"]


@tasks.route("")
class Tasks(MethodView):
    @authenticated()
    @tasks.arguments(schemas.TaskListQuery, location="query")
    @tasks.response(200, schemas.TaskPageSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """Tasks in the caller's scope: an officer's subtree, or those open to a member's branch."""
        return service.list_tasks(deps(), principal, query)

    @authenticated("township_officer", "admin")
    @tasks.arguments(schemas.TaskCreateSchema)
    @tasks.response(201, schemas.TaskSchema)
    def post(self, body: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """Create a task (draft) for a township in the officer's subtree."""
        return service.create_task(deps(), principal, body)


@tasks.route("/<string:task_id>")
class TaskById(MethodView):
    @authenticated()
    @tasks.response(200, schemas.TaskSchema)
    def get(self, task_id: str, principal: Principal) -> dict[str, Any]:
        """One task with its claims, progress reports, evaluations and awards."""
        return service.get_task(deps(), principal, task_id)


@tasks.route("/<string:task_id>/publish")
class Publish(MethodView):
    @authenticated(*ANY_OFFICER)
    @tasks.response(200, schemas.TaskSchema)
    def post(self, task_id: str, principal: Principal) -> dict[str, Any]:
        """Publish a draft: it becomes open for claims."""
        return service.publish_task(deps(), principal, task_id)


@tasks.route("/<string:task_id>/cancel")
class Cancel(MethodView):
    @authenticated(*ANY_OFFICER)
    @tasks.arguments(schemas.CancelSchema, required=False)
    @tasks.response(200, schemas.TaskSchema)
    def post(self, body: dict[str, Any], task_id: str, principal: Principal) -> dict[str, Any]:
        """Cancel a task before completion."""
        return service.cancel_task(deps(), principal, task_id, (body or {}).get("reason"))


@tasks.route("/<string:task_id>/claims")
class Claims(MethodView):
    @authenticated("member")
    @tasks.arguments(schemas.ClaimCreateSchema)
    @tasks.response(201, schemas.ClaimCreatedSchema)
    def post(self, body: dict[str, Any], task_id: str, principal: Principal) -> dict[str, Any]:
        """Claim a task with a public commitment (承诺). The first claimant is the lead."""
        return service.claim_task(deps(), principal, task_id, body["commitment"])


@tasks.route("/<string:task_id>/claims/<string:member_id>")
class ClaimByMember(MethodView):
    @authenticated("member", *ANY_OFFICER)
    @tasks.response(200, schemas.TaskSchema)
    def delete(self, task_id: str, member_id: str, principal: Principal) -> dict[str, Any]:
        """Withdraw a claim (the claimant), or remove a claimant (an officer), before completion."""
        return service.withdraw_claim(deps(), principal, task_id, member_id)


@tasks.route("/<string:task_id>/assignments")
class Assignments(MethodView):
    @authenticated(*ANY_OFFICER)
    @tasks.arguments(schemas.AssignmentCreateSchema)
    @tasks.response(201, schemas.ClaimCreatedSchema)
    def post(self, body: dict[str, Any], task_id: str, principal: Principal) -> dict[str, Any]:
        """Assign a member to a task; it takes a place like a claim."""
        return service.assign_member(deps(), principal, task_id, body)


@tasks.route("/<string:task_id>/progress")
class ProgressReports(MethodView):
    @authenticated("member")
    @tasks.arguments(schemas.ProgressCreateSchema)
    @tasks.response(201, schemas.ProgressSchema)
    def post(self, body: dict[str, Any], task_id: str, principal: Principal) -> dict[str, Any]:
        """Report progress (践诺); the percentage only goes up."""
        return service.report_progress(deps(), principal, task_id, body)


@tasks.route("/<string:task_id>/complete")
class Complete(MethodView):
    @authenticated("member")
    @tasks.arguments(schemas.CompleteSchema)
    @tasks.response(200, schemas.TaskSchema)
    def post(self, body: dict[str, Any], task_id: str, principal: Principal) -> dict[str, Any]:
        """The lead claimant completes the task with a summary."""
        return service.complete_task(deps(), principal, task_id, body["summary"])


@tasks.route("/<string:task_id>/evaluations")
class Evaluations(MethodView):
    @authenticated("member", "branch_secretary", *ANY_OFFICER)
    @tasks.arguments(schemas.EvaluationCreateSchema)
    @tasks.response(201, schemas.EvaluationSchema)
    def post(self, body: dict[str, Any], task_id: str, principal: Principal) -> dict[str, Any]:
        """Evaluate (评诺): the org evaluation closes the task and awards points."""
        return service.evaluate_task(deps(), principal, task_id, body)


@points.route("")
class Points(MethodView):
    @authenticated()
    @points.arguments(schemas.PointsQuery, location="query")
    @points.response(200, schemas.PointsPageSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """The quarter's points ranking of a subtree, highest first."""
        return service.points_ranking(deps(), principal, query)


@stats.route("/tasks")
class TaskStats(MethodView):
    @authenticated(*ANY_OFFICER, "service")
    @stats.arguments(schemas.StatsQuery, location="query")
    @stats.response(200, schemas.TaskStatsSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """Counts by status, overdue, completion rate and average rating of a subtree."""
        return service.task_stats(deps(), principal, query["org"])
