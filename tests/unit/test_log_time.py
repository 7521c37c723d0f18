"""The JSON log line's time: what `datetime.isoformat` writes in UTC, always with microseconds."""

import random
from datetime import UTC, datetime

from shared.logging import _utc_iso


def test_the_time_is_the_utc_isoformat_of_the_record_with_six_digits_of_microseconds():
    instants = [1_765_112_345.0, 1_765_112_345.9999996, 1_765_112_345.0000004, 0.5] + [
        random.uniform(1.7e9, 1.9e9) for _ in range(20_000)
    ]
    for created in instants:
        expected = datetime.fromtimestamp(created, UTC)
        assert _utc_iso(created) == expected.isoformat(timespec="microseconds"), created
