"""Every event type of the system, one module per publishing service.

Adding a field keeps `v1`; breaking a field means publishing a `v2` beside it for a while.
Schemas accept unknown fields (INCLUDE) so that an older consumer tolerates additions.

`CONTRACTS` is the one explicit mapping of event type to data schema: nothing registers itself
on import, and these modules import nothing of `shared.events` (one way: events read contracts).
"""

from shared.contracts import registration, tasks, transfer
from shared.contracts.base import EventData

CONTRACTS: dict[str, EventData] = {**registration.SCHEMAS, **tasks.SCHEMAS, **transfer.SCHEMAS}

__all__ = ["CONTRACTS", "EventData", "registration", "tasks", "transfer"]
