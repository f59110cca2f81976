"""A durable queue in SQLite with SQS's delivery semantics.

At-least-once: a received message stays in the table, invisible for the visibility timeout,
until it is deleted with its receipt. Each receive bumps its receive count; a receive that
finds a message already received ``max_receive_count`` times moves it to the dead-letter
table instead (SQS's redrive policy) and tells the alert sink.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from iot_pipeline_common.models import RawItem

from iot_pipeline_backend.adapters.local.db import Database
from iot_pipeline_backend.adapters.local.wake import wait_on
from iot_pipeline_backend.domain.messages import pack_messages
from iot_pipeline_backend.ports import Alert, AlertSink

#: Visible messages after a sequence number, oldest first: a lease, when there is one,
#: overrides the state the message was sent with. Parameters: now, after seq (then LIMIT).
_VISIBLE = (
    "SELECT q.seq, q.message_id, q.body, q.sent_at, "
    "COALESCE(l.receive_count, q.receive_count), "
    "COALESCE(l.first_received_at, q.first_received_at) "
    "FROM queue AS q LEFT JOIN queue_lease AS l ON l.seq = q.seq "
    "WHERE COALESCE(l.visible_at, q.visible_at) <= ? AND q.seq > ? ORDER BY q.seq"
)
#: Receipts deleted per statement (well under SQLite's bound-parameter limit).
_RECEIPT_CHUNK = 500


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
        # a sender in another process is seen at the poller's next interval instead,
        # unless the two share a wake-up pipe (``wake_on`` / ``announce_to``).
        self._sent = threading.Condition()
        self._wake_fd: int | None = None
        self._announce: Callable[[], None] | None = None

    # -- the ReadingQueue port -------------------------------------------------------------

    def enqueue_readings(self, readings: Sequence[RawItem]) -> None:
        """Pack readings into messages (SQS size limits apply here too) and send them."""
        self.send_many(pack_messages(readings))

    # -- SQS-like API used by the poller and the CLI ----------------------------------------

    def send(self, body: str) -> str:
        """Enqueue one message; returns its message id."""
        return self.send_many([body])[0]

    def send_many(self, bodies: Sequence[str]) -> list[str]:
        """Enqueue messages atomically (with the current unit, if any); returns their ids."""
        now = self._clock()
        ids = [str(uuid.uuid4()) for _ in bodies]
        rows = [(mid, body, now, now) for mid, body in zip(ids, bodies, strict=True)]

        def insert(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO queue (message_id, body, sent_at, visible_at) VALUES (?, ?, ?, ?)",
                rows,
            )

        self._db.defer(insert)
        self._db.after_commit(self._announce_sent)
        return ids

    def wake_on(self, fd: int) -> None:
        """Let :meth:`wait_for_messages` wake when ``fd`` (a pipe another process's sends
        write to) becomes readable, instead of on this process's sends."""
        # Non-blocking: several poller threads wait on it, and one may drain it first.
        os.set_blocking(fd, False)
        self._wake_fd = fd

    def announce_to(self, notify: Callable[[], None]) -> None:
        """Call ``notify`` after every committed send, for a poller in another process."""
        self._announce = notify

    def wait_for_messages(self, timeout: float) -> None:
        """Block until a message is sent (from this process, or through the wake-up pipe),
        or ``timeout`` seconds pass."""
        if self._wake_fd is not None:
            wait_on(self._wake_fd, timeout)
            return
        with self._sent:
            self._sent.wait(timeout)

    def _announce_sent(self) -> None:
        with self._sent:
            self._sent.notify_all()
        if self._announce is not None:
            self._announce()

    def receive(
        self,
        *,
        max_messages: int,
        visibility_timeout: float,
        max_receive_count: int | None = None,
    ) -> list[QueueMessage]:
        """Up to ``max_messages`` visible messages, oldest first, hidden for the timeout.

        Committed before it returns, on its own (never with the caller's unit): a receive
        that is not durable could hand out a message twice without counting it.
        """
        now = self._clock()
        with self._db.reading() as conn:
            # Idle pollers ask often; a plain read keeps them away from the writer.
            if conn.execute(_VISIBLE + " LIMIT 1", (now, -1)).fetchone() is None:
                return []

        def lease(conn: sqlite3.Connection) -> tuple[list[QueueMessage], list[DeadLetter]]:
            received: list[QueueMessage] = []
            dead: list[DeadLetter] = []
            after = -1
            while len(received) < max_messages:
                rows = conn.execute(
                    _VISIBLE + " LIMIT ?", (now, after, max_messages - len(received))
                ).fetchall()
                if not rows:
                    break
                for seq, message_id, body, sent_at, count, first in rows:
                    after = seq
                    if max_receive_count is not None and count >= max_receive_count:
                        conn.execute(
                            "INSERT INTO dlq (message_id, body, sent_at, receive_count, moved_at) "
                            "VALUES (?, ?, ?, ?, ?)",
                            (message_id, body, sent_at, count, now),
                        )
                        conn.execute("DELETE FROM queue WHERE seq = ?", (seq,))
                        conn.execute("DELETE FROM queue_lease WHERE seq = ?", (seq,))
                        dead.append(DeadLetter(message_id, body, count, sent_at, now))
                        continue
                    receipt = secrets.token_urlsafe(24)
                    first_received = now if first is None else first
                    # The lease row is all a receive writes: the message body stays untouched.
                    conn.execute(
                        "INSERT OR REPLACE INTO queue_lease "
                        "(seq, receipt, receive_count, visible_at, first_received_at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (seq, receipt, count + 1, now + visibility_timeout, first_received),
                    )
                    received.append(
                        QueueMessage(message_id, receipt, body, count + 1, sent_at, first_received)
                    )
            return received, dead

        received, dead = self._db.run(lease)
        for letter in dead:
            self._announce_dead_letter(letter)
        return received

    def delete(self, receipt: str) -> bool:
        """Delete a received message; False when the receipt is stale or unknown."""
        return self._db.run(_deleting([receipt])) > 0

    def delete_batch(self, receipts: Sequence[str]) -> int:
        """Delete several received messages in one transaction; returns how many existed."""
        if not receipts:
            return 0
        return self._db.run(_deleting(receipts))

    def settle(self, receipts: Sequence[str]) -> None:
        """Delete received messages (with the current unit when one is open, else at once)."""
        if receipts:
            self._db.defer(_deleting(receipts))

    def processing(self) -> AbstractContextManager[object]:
        """A unit for the poller: the processor's writes and :meth:`settle` commit together."""
        return self._db.unit()

    def change_visibility(self, receipt: str, timeout: float) -> bool:
        """Make a received message visible again after ``timeout`` seconds (0 = now)."""
        visible_at = self._clock() + timeout

        def update(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "UPDATE queue_lease SET visible_at = ? WHERE receipt = ?", (visible_at, receipt)
            )
            return cursor.rowcount

        return self._db.run(update) > 0

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

        def redrive(conn: sqlite3.Connection) -> int:
            rows = conn.execute("SELECT seq, message_id, body, sent_at FROM dlq").fetchall()
            conn.executemany(
                "INSERT INTO queue (message_id, body, sent_at, visible_at) VALUES (?, ?, ?, ?)",
                [(mid, body, sent, now) for _, mid, body, sent in rows],
            )
            conn.execute("DELETE FROM dlq")
            return len(rows)

        return self._db.run(redrive)

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


def _deleting(receipts: Sequence[str]) -> Callable[[sqlite3.Connection], int]:
    """An operation deleting the leased messages of ``receipts``; it returns how many."""

    def delete(conn: sqlite3.Connection) -> int:
        deleted = 0
        for start in range(0, len(receipts), _RECEIPT_CHUNK):
            chunk = list(receipts[start : start + _RECEIPT_CHUNK])
            marks = ",".join("?" * len(chunk))
            # ``marks`` is only question marks; the receipts are bound parameters.
            deleted += conn.execute(
                "DELETE FROM queue WHERE seq IN "  # noqa: S608
                f"(SELECT seq FROM queue_lease WHERE receipt IN ({marks}))",
                chunk,
            ).rowcount
            conn.execute(f"DELETE FROM queue_lease WHERE receipt IN ({marks})", chunk)  # noqa: S608
        return deleted

    return delete
