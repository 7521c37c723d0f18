"""Tasks write use cases: a frozen dataclass command each, and its handler
`handler(uow, actor, command)` (the scheduled sweeps act for no one: `sweep(uow, command)`).

A handler opens its unit of work, loads through the repositories, applies the domain rules,
`emit`s the integration events and `audit`s the actor; `commit()` writes them together with the
change, or nothing is written. The atomic parts (capacity, one claim per member, the lead cap,
once-only transitions) are conditional statements of the repositories, so they hold under any
interleaving on SQLite and PostgreSQL alike.
"""

from services.tasks.commands.claims import (
    AssignMember,
    ClaimPlaced,
    ClaimTask,
    WithdrawClaim,
    assign_member,
    claim_task,
    withdraw_claim,
)
from services.tasks.commands.fulfil import (
    CompleteTask,
    EvaluateTask,
    ReportProgress,
    complete_task,
    evaluate_task,
    report_progress,
)
from services.tasks.commands.sweeps import FlagOverdue, OpenHall, open_hall_sweep, overdue_sweep
from services.tasks.commands.tasks import (
    CancelTask,
    CreateTask,
    PublishTask,
    cancel_task,
    create_task,
    publish_task,
)

__all__ = [
    "AssignMember",
    "CancelTask",
    "ClaimPlaced",
    "ClaimTask",
    "CompleteTask",
    "CreateTask",
    "EvaluateTask",
    "FlagOverdue",
    "OpenHall",
    "PublishTask",
    "ReportProgress",
    "WithdrawClaim",
    "assign_member",
    "cancel_task",
    "claim_task",
    "complete_task",
    "create_task",
    "evaluate_task",
    "open_hall_sweep",
    "overdue_sweep",
    "publish_task",
    "report_progress",
    "withdraw_claim",
]
