"""A durable queue in SQLite with SQS's delivery semantics.

At-least-once: a received message stays in the table, invisible for the visibility timeout,
until it is deleted with its receipt. Each receive bumps its receive count; a receive that
finds a message already received ``max_receive_count`` times moves it to the dead-letter
table instead (SQS's redrive policy) and tells the alert sink.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from iot_pipeline_common.models import RawItem

from iot_pipeline_backend.adapters.local.db import Database
from iot_pipeline_backend.domain.messages import pack_messages
from iot_pipeline_backend.ports import Alert, AlertSink


@dataclass(frozen=True, slots=True)
class QueueMessage:
    """A received message: delete it with ``receipt`` once processed."""

    message_id: str
    receipt: str
    body: str
    receive_count: int
    sent_at: float
    first_received_at: float


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message in the dead-letter queue."""

    message_id: str
    body: str
    receive_count: int
    sent_at: float
    moved_at: float


class SqliteReadingQueue:
    """The ingestion → processing queue and its DLQ, in the local database."""

    def __init__(
        self,
        db: Database,
        *,
        alerts: AlertSink | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._alerts = alerts
        self._clock = clock
        # Wakes pollers of this process as soon as a send commits (SQS long polling);
        # a sender in another process is seen at the poller's next interval instead.
        self._sent = threading.Condition()

    # -- the ReadingQueue port -------------------------------------------------------------

    def enqueue_readings(self, readings: Sequence[RawItem]) -> None:
        """Pack readings into messages (SQS size limits apply here too) and send them."""
        self.send_many(pack_messages(readings))

    # -- SQS-like API used by the poller and the CLI ----------------------------------------

    def send(self, body: str) -> str:
        """Enqueue one message; returns its message id."""
        return self.send_many([body])[0]

    def send_many(self, bodies: Sequence[str]) -> list[str]:
        """Enqueue messages atomically; returns their ids."""
        now = self._clock()
        ids = [str(uuid.uuid4()) for _ in bodies]
        with self._db.transaction() as conn:
            conn.executemany(
                "INSERT INTO queue (message_id, body, sent_at, visible_at) VALUES (?, ?, ?, ?)",
                [(mid, body, now, now) for mid, body in zip(ids, bodies, strict=True)],
            )
            self._db.after_commit(self._announce_sent)
        return ids

    def wait_for_messages(self, timeout: float) -> None:
        """Block until a message is sent from this process, or ``timeout`` seconds pass."""
        with self._sent:
            self._sent.wait(timeout)

    def _announce_sent(self) -> None:
        with self._sent:
            self._sent.notify_all()

    def receive(
        self,
        *,
        max_messages: int,
        visibility_timeout: float,
        max_receive_count: int | None = None,
    ) -> list[QueueMessage]:
        """Up to ``max_messages`` visible messages, oldest first, hidden for the timeout."""
        now = self._clock()
        received: list[QueueMessage] = []
        dead: list[DeadLetter] = []
        with self._db.reading() as conn:
            # Idle pollers ask often; a plain read keeps them from taking the write lock.
            if (
                conn.execute("SELECT 1 FROM queue WHERE visible_at <= ? LIMIT 1", (now,)).fetchone()
                is None
            ):
                return received
        with self._db.transaction() as conn:
            while len(received) < max_messages:
                rows = conn.execute(
                    "SELECT seq, message_id, body, sent_at, receive_count, first_received_at "
                    "FROM queue WHERE visible_at <= ? ORDER BY seq LIMIT ?",
                    (now, max_messages - len(received)),
                ).fetchall()
                if not rows:
                    break
                for seq, message_id, body, sent_at, count, first in rows:
                    if max_receive_count is not None and count >= max_receive_count:
                        conn.execute(
                            "INSERT INTO dlq (message_id, body, sent_at, receive_count, moved_at) "
                            "VALUES (?, ?, ?, ?, ?)",
                            (message_id, body, sent_at, count, now),
                        )
                        conn.execute("DELETE FROM queue WHERE seq = ?", (seq,))
                        dead.append(DeadLetter(message_id, body, count, sent_at, now))
                        continue
                    receipt = secrets.token_urlsafe(24)
                    first_received = now if first is None else first
                    conn.execute(
                        "UPDATE queue SET receipt = ?, receive_count = receive_count + 1, "
                        "visible_at = ?, first_received_at = ? WHERE seq = ?",
                        (receipt, now + visibility_timeout, first_received, seq),
                    )
                    received.append(
                        QueueMessage(message_id, receipt, body, count + 1, sent_at, first_received)
                    )
        for letter in dead:
            self._announce_dead_letter(letter)
        return received

    def delete(self, receipt: str) -> bool:
        """Delete a received message; False when the receipt is stale or unknown."""
        with self._db.transaction() as conn:
            cursor = conn.execute("DELETE FROM queue WHERE receipt = ?", (receipt,))
        return cursor.rowcount > 0

    def delete_batch(self, receipts: Sequence[str]) -> int:
        """Delete several received messages in one transaction; returns how many existed."""
        if not receipts:
            return 0
        with self._db.transaction() as conn:
            cursor = conn.executemany(
                "DELETE FROM queue WHERE receipt = ?", [(receipt,) for receipt in receipts]
            )
        return cursor.rowcount

    def change_visibility(self, receipt: str, timeout: float) -> bool:
        """Make a received message visible again after ``timeout`` seconds (0 = now)."""
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE queue SET visible_at = ? WHERE receipt = ?",
                (self._clock() + timeout, receipt),
            )
        return cursor.rowcount > 0

    def depth(self) -> int:
        """Messages in the queue, visible or in flight (not counting the DLQ)."""
        with self._db.reading() as conn:
            (count,) = conn.execute("SELECT COUNT(*) FROM queue").fetchone()
        return int(count)

    def dlq_depth(self) -> int:
        """Messages in the dead-letter queue."""
        with self._db.reading() as conn:
            (count,) = conn.execute("SELECT COUNT(*) FROM dlq").fetchone()
        return int(count)

    def dlq_list(self) -> list[DeadLetter]:
        """Messages in the dead-letter queue, oldest first."""
        with self._db.reading() as conn:
            rows = conn.execute(
                "SELECT message_id, body, receive_count, sent_at, moved_at FROM dlq ORDER BY seq"
            ).fetchall()
        return [DeadLetter(*row) for row in rows]

    def dlq_redrive(self) -> int:
        """Move every dead letter back to the queue with a fresh receive count."""
        now = self._clock()
        with self._db.transaction() as conn:
            rows = conn.execute("SELECT seq, message_id, body, sent_at FROM dlq").fetchall()
            conn.executemany(
                "INSERT INTO queue (message_id, body, sent_at, visible_at) VALUES (?, ?, ?, ?)",
                [(mid, body, sent, now) for _, mid, body, sent in rows],
            )
            conn.execute("DELETE FROM dlq")
        return len(rows)

    def _announce_dead_letter(self, letter: DeadLetter) -> None:
        if self._alerts is None:
            return
        try:
            readings = len(json.loads(letter.body).get("readings", []))
        except (ValueError, AttributeError):
            readings = 0
        self._alerts.publish_alert(
            Alert(
                subject="iot-pipeline: a message moved to the dead-letter queue",
                message=(
                    f"Message {letter.message_id} ({readings} readings) failed "
                    f"{letter.receive_count} times and was moved to the dead-letter queue. "
                    "Inspect it, fix the cause, then redrive it."
                ),
                kind="dlq",
                details={"message_id": letter.message_id, "receive_count": letter.receive_count},
            )
        )
