"""Every event type of the system, one module per publishing service.

Adding a field keeps `v1`; breaking a field means publishing a `v2` beside it for a while.
Schemas accept unknown fields (INCLUDE) so that an older consumer tolerates additions.
"""

from shared.contracts import notify, registration, tasks, transfer  # noqa: F401
