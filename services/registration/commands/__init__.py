"""Write use cases of the registration service: a frozen command and one handler each,
`handler(uow, actor, command)`, which changes the register in one unit of work and emits the
events and audit entries of the change with it."""

from services.registration.commands.importing import (
    DryRunResult,
    ImportMembers,
    ImportRejected,
    ImportResult,
    check_import_scope,
    import_members,
)
from services.registration.commands.mobility import (
    SWEEP_ACTOR,
    MoveRelationship,
    RegisterInflow,
    RegisterOutflow,
    SweepLostContact,
    move_relationship,
    register_inflow,
    register_outflow,
    sweep_lost_contact,
)
from services.registration.commands.records import (
    RecordDues,
    RecordReturn,
    UpdateMember,
    record_dues,
    record_return,
    update_member,
)
from services.registration.commands.registry import (
    CreateMember,
    CreateOrg,
    OpenLedger,
    RecordCheckin,
    create_member,
    create_org,
    open_ledger,
    record_checkin,
)

__all__ = [
    "SWEEP_ACTOR",
    "CreateMember",
    "CreateOrg",
    "DryRunResult",
    "ImportMembers",
    "ImportRejected",
    "ImportResult",
    "MoveRelationship",
    "OpenLedger",
    "RecordCheckin",
    "RecordDues",
    "RecordReturn",
    "RegisterInflow",
    "RegisterOutflow",
    "SweepLostContact",
    "UpdateMember",
    "check_import_scope",
    "create_member",
    "create_org",
    "import_members",
    "move_relationship",
    "open_ledger",
    "record_checkin",
    "record_dues",
    "record_return",
    "register_inflow",
    "register_outflow",
    "sweep_lost_contact",
    "update_member",
]
