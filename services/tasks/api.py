"""HTTP endpoints of the tasks service: parse, build a command, call a use case, serialize.
No rules here."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import RAISE

from services.tasks import commands, queries, schemas
from services.tasks.models import Evaluation, Progress
from services.tasks.queries import Page, TaskDetail
from services.tasks.unit_of_work import TasksDeps, TasksUnitOfWork
from shared.auth import Principal
from shared.text import ID_PATTERN
from shared.web import Blueprint, authenticated, context
from shared.web.paths import check_path_values

tasks = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks", description="Adopted tasks (实事领办)")
points = Blueprint("points", __name__, url_prefix="/api/v1/points", description="Points (积分) rankings")
stats = Blueprint("task_stats", __name__, url_prefix="/api/v1/stats", description="Task statistics")

ANY_OFFICER = ("township_officer", "org_department", "admin")

# Ids in paths are checked before any view: a malformed one is a 422, never a lookup or a URL.
check_path_values(tasks, {"task_id": ID_PATTERN, "member_id": ID_PATTERN})


def deps() -> TasksDeps:
    return context().extras["tasks"]


def uow() -> TasksUnitOfWork:
    """A unit of work for this request (it holds a session: never shared)."""
    return deps().unit_of_work()


@tasks.route("")
class Tasks(MethodView):
    @authenticated()
    @tasks.arguments(schemas.TaskListQuery, location="query", unknown=RAISE)
    @tasks.response(200, schemas.TaskPageSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> Page:
        """Tasks in the caller's scope: an officer's subtree, or those open to a member's branch."""
        return queries.list_tasks(deps(), principal, queries.TaskFilter(**query))

    @authenticated("township_officer", "admin")
    @tasks.arguments(schemas.TaskCreateSchema)
    @tasks.response(201, schemas.TaskSchema)
    def post(self, body: dict[str, Any], principal: Principal) -> TaskDetail:
        """Create a task (draft) for a township in the officer's subtree."""
        task = commands.create_task(uow(), principal, commands.CreateTask(**body))
        return queries.task_view(deps(), principal, task)


@tasks.route("/<string:task_id>")
class TaskById(MethodView):
    @authenticated()
    @tasks.response(200, schemas.TaskSchema)
    def get(self, task_id: str, principal: Principal) -> TaskDetail:
        """One task with its claims, progress reports, evaluations and awards."""
        return queries.get_task(deps(), principal, task_id)


@tasks.route("/<string:task_id>/publish")
class Publish(MethodView):
    @authenticated(*ANY_OFFICER)
    @tasks.response(200, schemas.TaskSchema)
    def post(self, task_id: str, principal: Principal) -> TaskDetail:
        """Publish a draft: it becomes open for claims."""
        task = commands.publish_task(uow(), principal, commands.PublishTask(task_id))
        return queries.task_view(deps(), principal, task)


@tasks.route("/<string:task_id>/cancel")
class Cancel(MethodView):
    @authenticated(*ANY_OFFICER)
    @tasks.arguments(schemas.CancelSchema, required=False)
    @tasks.response(200, schemas.TaskSchema)
    def post(self, body: dict[str, Any], task_id: str, principal: Principal) -> TaskDetail:
        """Cancel a task before completion."""
        command = commands.CancelTask(task_id, (body or {}).get("reason"))
        return queries.task_view(deps(), principal, commands.cancel_task(uow(), principal, command))


@tasks.route("/<string:task_id>/claims")
class Claims(MethodView):
    @authenticated("member")
    @tasks.arguments(schemas.ClaimCreateSchema)
    @tasks.response(201, schemas.ClaimCreatedSchema)
    def post(self, body: dict[str, Any], task_id: str, principal: Principal) -> commands.ClaimPlaced:
        """Claim a task with a public commitment (承诺). The first claimant is the lead."""
        return commands.claim_task(uow(), principal, commands.ClaimTask(task_id, body["commitment"]))


@tasks.route("/<string:task_id>/claims/<string:member_id>")
class ClaimByMember(MethodView):
    @authenticated("member", *ANY_OFFICER)
    @tasks.response(200, schemas.TaskSchema)
    def delete(self, task_id: str, member_id: str, principal: Principal) -> TaskDetail:
        """Withdraw a claim (the claimant), or remove a claimant (an officer), before completion."""
        task = commands.withdraw_claim(uow(), principal, commands.WithdrawClaim(task_id, member_id))
        return queries.task_view(deps(), principal, task)


@tasks.route("/<string:task_id>/assignments")
class Assignments(MethodView):
    @authenticated(*ANY_OFFICER)
    @tasks.arguments(schemas.AssignmentCreateSchema)
    @tasks.response(201, schemas.ClaimCreatedSchema)
    def post(self, body: dict[str, Any], task_id: str, principal: Principal) -> commands.ClaimPlaced:
        """Assign a member to a task; it takes a place like a claim."""
        return commands.assign_member(uow(), principal, commands.AssignMember(task_id, **body))


@tasks.route("/<string:task_id>/progress")
class ProgressReports(MethodView):
    @authenticated("member")
    @tasks.arguments(schemas.ProgressCreateSchema)
    @tasks.response(201, schemas.ProgressSchema)
    def post(self, body: dict[str, Any], task_id: str, principal: Principal) -> Progress:
        """Report progress (践诺); the percentage only goes up."""
        return commands.report_progress(uow(), principal, commands.ReportProgress(task_id, **body))


@tasks.route("/<string:task_id>/complete")
class Complete(MethodView):
    @authenticated("member")
    @tasks.arguments(schemas.CompleteSchema)
    @tasks.response(200, schemas.TaskSchema)
    def post(self, body: dict[str, Any], task_id: str, principal: Principal) -> TaskDetail:
        """The lead claimant completes the task with a summary."""
        task = commands.complete_task(uow(), principal, commands.CompleteTask(task_id, body["summary"]))
        return queries.task_view(deps(), principal, task)


@tasks.route("/<string:task_id>/evaluations")
class Evaluations(MethodView):
    @authenticated("member", "branch_secretary", *ANY_OFFICER)
    @tasks.arguments(schemas.EvaluationCreateSchema)
    @tasks.response(201, schemas.EvaluationSchema)
    def post(self, body: dict[str, Any], task_id: str, principal: Principal) -> Evaluation:
        """Evaluate (评诺): the org evaluation closes the task and awards points."""
        return commands.evaluate_task(uow(), principal, commands.EvaluateTask(task_id, **body))


@points.route("")
class Points(MethodView):
    @authenticated()
    @points.arguments(schemas.PointsQuery, location="query", unknown=RAISE)
    @points.response(200, schemas.PointsPageSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> Page:
        """The quarter's points ranking of a subtree, highest first."""
        return queries.points_ranking(deps(), principal, queries.RankingQuery(**query))


@points.route("/me")
class MyPoints(MethodView):
    @authenticated("member")
    @points.response(200, schemas.MyPointsSchema)
    def get(self, principal: Principal) -> queries.MyPoints:
        """The caller's points by quarter, newest first, and in total."""
        return queries.my_points(deps(), principal)


@stats.route("/tasks")
class TaskStats(MethodView):
    @authenticated(*ANY_OFFICER, "service")
    @stats.arguments(schemas.StatsQuery, location="query", unknown=RAISE)
    @stats.response(200, schemas.TaskStatsSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> queries.TaskStats:
        """Counts by status, overdue, completion rate and average rating of a subtree."""
        return queries.task_stats(deps(), principal, query["org"])
