"""HTTP endpoints of stations (流动党员之家, 驿站, 服务站): parse, call a use case, serialize."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Response
from flask.views import MethodView

from services.registration import schemas, station_queries
from services.registration.commands import stations as station_commands
from services.registration.poster import poster_pdf
from services.registration.settings import RegistrationSettings
from services.registration.unit_of_work import RegistrationUnitOfWork
from shared.auth import Principal
from shared.web import Blueprint, authenticated, context

stations = Blueprint(
    "stations", __name__, url_prefix="/api/v1/stations", description="Stations and their codes"
)
station_stats = Blueprint(
    "station_stats", __name__, url_prefix="/api/v1/stats", description="Station figures"
)
PDF = {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}
STAFF = ("branch_secretary", "township_officer", "org_department", "admin")


def _uow() -> RegistrationUnitOfWork:
    return RegistrationUnitOfWork(context().database)


def qr_ttl() -> timedelta:
    """How long a screen code lasts: NUANLIU_QR_TTL (RegistrationSettings.qr_ttl)."""
    settings = context().settings
    assert isinstance(settings, RegistrationSettings), "the registration app runs on its settings"
    return settings.qr_ttl


def console_url() -> str:
    return context().settings.url_of("console")


@stations.route("")
class Stations(MethodView):
    @authenticated()
    @stations.arguments(schemas.StationListQuery, location="query")
    @stations.response(200, schemas.StationPageSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """Stations by code, in a region (prefix) or hosted in an org's subtree."""
        return station_queries.list_stations(context().database, station_queries.StationList(**query))

    @authenticated(*station_commands.STATION_CREATORS)
    @stations.arguments(schemas.StationCreateSchema)
    @stations.response(201, schemas.StationSchema)
    def post(self, body: dict[str, Any], principal: Principal) -> Any:
        """Create a station hosted by a branch or township in the caller's subtree."""
        return station_commands.create_station(_uow(), principal, station_commands.CreateStation(**body))


@stations.route("/<string:code>")
class StationByCode(MethodView):
    @authenticated()
    @stations.response(200, schemas.StationSchema)
    def get(self, code: str, principal: Principal) -> Any:
        """One station."""
        return station_queries.get_station(context().database, code)


@stations.route("/<string:code>/qr")
class StationScreenCode(MethodView):
    @authenticated(*STAFF)
    @stations.response(200, schemas.ScreenCodeSchema)
    def get(self, code: str, principal: Principal) -> Any:
        """A screen code for the station's counter, valid NUANLIU_QR_TTL (default 120 s)."""
        return station_queries.screen_code(context().database, principal, code, qr_ttl(), console_url())


@stations.route("/<string:code>/poster.pdf")
class StationPoster(MethodView):
    @authenticated(*STAFF)
    @stations.response(200, description="A4 PDF: the station's poster with its poster code")
    @stations.doc(responses={"200": {"description": "A4 PDF: the station's poster", "content": PDF}})
    def get(self, code: str, principal: Principal) -> Response:
        """The printable poster (staff of the host org or above); its code lasts until rotate-key."""
        data = station_queries.poster(context().database, principal, code, console_url())
        response = Response(poster_pdf(data), mimetype="application/pdf")
        response.headers["Content-Disposition"] = f'inline; filename="station-{data.code}.pdf"'
        # The poster carries a standing code: no cache keeps a copy after a rotation.
        response.headers["Cache-Control"] = "no-store"
        return response


@stations.route("/<string:code>/rotate-key")
class StationRotateKey(MethodView):
    @authenticated(*STAFF)
    @stations.response(200, schemas.StationSchema)
    def post(self, code: str, principal: Principal) -> Any:
        """Replace the station's key: every code issued before (posters too) stops working."""
        return station_commands.rotate_station_key(_uow(), principal, station_commands.RotateStationKey(code))


@station_stats.route("/stations")
class StationFigures(MethodView):
    @authenticated(*STAFF, "service")
    @station_stats.arguments(schemas.StationStatsQuery, location="query")
    @station_stats.response(200, schemas.StationStatsSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> Any:
        """Check-ins per station of an org's subtree in a China month."""
        return station_queries.station_stats(context().database, principal, query["org"], query["month"])
