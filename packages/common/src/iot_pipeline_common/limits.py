"""Every limit of the wire contract, in one place.

The models, the OpenAPI document, the SDK's batch splitter and the backend's
validators all read these names; change a limit here and nowhere else.
"""

from __future__ import annotations

import re
from typing import Final

#: Identifier rules shared by ``device_id`` and ``reading_id``.
ID_MIN_LENGTH: Final = 1
ID_MAX_LENGTH: Final = 128
ID_PATTERN: Final = r"^[A-Za-z0-9._:-]+$"
ID_REGEX: Final = re.compile(ID_PATTERN)

#: ``sensor_data`` holds between these many numeric fields.
SENSOR_FIELDS_MIN: Final = 1
SENSOR_FIELDS_MAX: Final = 50
#: Sensor field names: a letter, then letters, digits or underscores.
#: Chosen so a field name is a valid DynamoDB attribute and SQLite column-like key.
SENSOR_FIELD_NAME_MAX_LENGTH: Final = 64
SENSOR_FIELD_NAME_PATTERN: Final = r"^[A-Za-z][A-Za-z0-9_]*$"

#: Range checks applied at ingest to the sensors the pipeline knows (hard validation;
#: anomaly ranges live in the pipeline config and only flag a reading).
KNOWN_SENSOR_RANGES: Final[dict[str, tuple[float, float]]] = {
    "temperature": (-100.0, 200.0),  # °C
    "humidity": (0.0, 100.0),  # %
    "pressure": (300.0, 1100.0),  # hPa
}

#: Epoch milliseconds: the sort key pads to 13 digits, so that is the ceiling.
TIMESTAMP_MIN_MS: Final = 0
TIMESTAMP_MAX_MS: Final = 9_999_999_999_999
TIMESTAMP_DIGITS: Final = 13

#: ``seq`` is a device's monotonic counter; 63 bits fit every store we use.
SEQ_MIN: Final = 0
SEQ_MAX: Final = 2**63 - 1

#: Batch ingest.
BATCH_MIN_READINGS: Final = 1
BATCH_MAX_READINGS: Final = 500
MAX_BODY_BYTES: Final = 256 * 1024

#: Query.
QUERY_LIMIT_MIN: Final = 1
QUERY_LIMIT_MAX: Final = 1000
QUERY_LIMIT_DEFAULT: Final = 100
NEXT_TOKEN_MAX_LENGTH: Final = 2048

#: The HTTP stage every route lives under.
STAGE: Final = "prod"

#: Sensor values are finite numbers within this magnitude: beyond it a float loses
#: integer precision and the value cannot be a physical reading anyway.
SENSOR_VALUE_ABS_MAX: Final = 1e15

#: Aggregates (``GET /query`` with ``interval``): the intervals and their length in ms, and
#: the most buckets one query's range may cover.
INTERVAL_MS: Final[dict[str, int]] = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "1h": 3_600_000,
    "6h": 21_600_000,
    "1d": 86_400_000,
}
AGGREGATE_MAX_BUCKETS: Final = 10_000
AGGREGATE_STATS: Final = ("count", "min", "max", "avg", "sum")
