"""The dead-letter queue, for operators: ``iot-pipeline dlq list`` / ``dlq redrive``.

- :mod:`.letters` — the local SQLite DLQ and a deployed stack's SQS DLQ behind one shape
- :mod:`.command` — the click commands
"""

from iot_pipeline_backend.dlq.letters import (
    DeadLetterError,
    DeadLetterQueue,
    DeadLetterSummary,
    LocalDeadLetters,
    SqsDeadLetters,
)

__all__ = [
    "DeadLetterError",
    "DeadLetterQueue",
    "DeadLetterSummary",
    "LocalDeadLetters",
    "SqsDeadLetters",
]
