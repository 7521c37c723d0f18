"""HTTP endpoints of the lost-contact course and monthly coverage: contact attempts, the standing
decision, and the coverage figures (每月一摸排)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import RAISE

from services.registration import queries, schemas, stats_queries
from services.registration.commands import course
from services.registration.settings import RegistrationSettings
from services.registration.unit_of_work import RegistrationUnitOfWork
from shared.auth import Principal
from shared.pagination import PageQuery
from shared.text import ID_PATTERN
from shared.web import Blueprint, authenticated, context
from shared.web.paths import check_path_values

member_course = Blueprint(
    "member_course", __name__, url_prefix="/api/v1/members", description="Contact attempts and standing"
)
coverage_stats = Blueprint(
    "coverage_stats", __name__, url_prefix="/api/v1/stats", description="Monthly coverage (每月一摸排)"
)
check_path_values(member_course, {"member_id": ID_PATTERN})

COURSE_KEEPERS = ("branch_secretary", "township_officer", "org_department", "admin")


def _settings() -> RegistrationSettings:
    settings = context().settings
    assert isinstance(settings, RegistrationSettings), "the registration app runs on its settings"
    return settings


def _uow() -> RegistrationUnitOfWork:
    return RegistrationUnitOfWork(context().database, _settings().id_hash_key)


@member_course.route("/<string:member_id>/contact-attempts")
class ContactAttempts(MethodView):
    @authenticated(*COURSE_KEEPERS)
    @member_course.arguments(PageQuery, location="query", unknown=RAISE)
    @member_course.response(200, schemas.ContactAttemptPageSchema)
    def get(self, query: dict[str, Any], principal: Principal, member_id: str) -> dict[str, Any]:
        """The member's contact attempts, newest first (their branch's or inflow branch's
        secretary, or above)."""
        return queries.list_contact_attempts(_uow(), principal, member_id, query["limit"], query["cursor"])

    @authenticated(*COURSE_KEEPERS)
    @member_course.arguments(schemas.ContactAttemptCreateSchema)
    @member_course.response(201, schemas.ContactAttemptSchema)
    def post(self, body: dict[str, Any], principal: Principal, member_id: str) -> Any:
        """Record an attempt to reach the member; `reached` counts as contact, as a check-in does."""
        command = course.RecordContactAttempt(
            member_id=member_id, lost_contact_days=_settings().lost_contact_days, **body
        )
        return course.record_contact_attempt(_uow(), principal, command)


@member_course.route("/<string:member_id>/standing")
class Standing(MethodView):
    @authenticated("org_department")
    @member_course.arguments(schemas.StandingDecisionCreateSchema)
    @member_course.response(201, schemas.StandingDecisionSchema)
    def post(self, body: dict[str, Any], principal: Principal, member_id: str) -> Any:
        """停止党籍 (suspended), 恢复 (restored) or 除名 (removed): an org department above the
        member's branch decides, with the reason and the date (audited)."""
        return course.decide_standing(_uow(), principal, course.DecideStanding(member_id=member_id, **body))


@coverage_stats.route("/coverage")
class CoverageFigures(MethodView):
    @authenticated("branch_secretary", "township_officer", "org_department", "admin", "service")
    @coverage_stats.arguments(schemas.CoverageQuery, location="query", unknown=RAISE)
    @coverage_stats.response(200, schemas.CoverageSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> Any:
        """每月一摸排: an org's mobile members, and how many were reached in the month (China time)."""
        return queries.coverage(context().database, principal, query["org"], query["month"])


@coverage_stats.route("/breakdown")
class BreakdownFigures(MethodView):
    @authenticated("branch_secretary", "township_officer", "org_department", "admin", "service")
    @coverage_stats.arguments(schemas.BreakdownQuery, location="query", unknown=RAISE)
    @coverage_stats.response(200, schemas.BreakdownSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> Any:
        """The dashboard's table: per child org and in total, members, mobile members, reached and
        not reached in the month, lost contact, dues behind the current month."""
        return stats_queries.breakdown(context().database, principal, query["org"], query["month"])


@coverage_stats.route("/flows")
class FlowFigures(MethodView):
    @authenticated("branch_secretary", "township_officer", "org_department", "admin", "service")
    @coverage_stats.arguments(schemas.FlowsQuery, location="query", unknown=RAISE)
    @coverage_stats.response(200, schemas.FlowsSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> Any:
        """Mobile members by destination province (out) and open inflows by home province (in)."""
        return stats_queries.flows(context().database, principal, query["org"])
