"""The baselines of bench.tasks_claims, served by gunicorn exactly like the tasks API:

- `POST /claim/<task_id>`: a minimal claim written directly: the same conditional UPDATE and
  the same INSERT as the real claim, in one transaction, with no auth, rules, events or audit;
- `GET /bare`: a bare JSON endpoint.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, request
from sqlalchemy import insert, update

from services.tasks.models import Claim, Task
from services.tasks.settings import TasksSettings
from shared.db import new_id, service_database, utcnow


def create_app() -> Flask:
    settings = TasksSettings.from_env()
    database = service_database(settings.database_url, "tasks", pool_size=10)
    app = Flask("tasks-baseline")

    @app.post("/claim/<task_id>")
    def claim(task_id: str) -> tuple[Response, int]:
        member_id = request.get_json()["member_id"]
        with database.transaction() as session:
            taken = session.execute(
                update(Task)
                .where(
                    Task.id == task_id, Task.claimed < Task.capacity, Task.status.in_(("open", "in_progress"))
                )
                .values(claimed=Task.claimed + 1, status="in_progress")
            )
            if taken.rowcount == 0:  # type: ignore[attr-defined]
                return jsonify({"message": "full"}), 409
            session.execute(
                insert(Claim).values(
                    id=new_id(),
                    task_id=task_id,
                    member_id=member_id,
                    branch_code="BENCH",
                    branch_path="/BENCH/",
                    claimed_at=utcnow(),
                )
            )
        return jsonify({"task_id": task_id, "member_id": member_id}), 201

    @app.get("/bare")
    def bare() -> Response:
        return jsonify({"ok": True})

    return app
