"""``iot-pipeline dlq list`` and ``iot-pipeline dlq redrive``.

Both work on the local runtime's dead-letter table (``--data-dir``, the default) or on a
deployed stack's SQS dead-letter queue (``--dlq-url``, or ``--stack-suffix`` to look the
stack's queues up by name).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from iot_pipeline_backend.dlq.letters import (
    DeadLetterError,
    DeadLetterQueue,
    DeadLetterSummary,
    LocalDeadLetters,
    SqsDeadLetters,
)
from iot_pipeline_backend.errors import StoreUnavailableError

#: The local runtime's default data directory (``iot-pipeline local --data-dir``).
DEFAULT_DATA_DIR = Path(".iot-pipeline")
_REGION_IN_URL = re.compile(r"^https?://sqs[.-]([a-z0-9-]+)\.amazonaws\.com", re.IGNORECASE)

F = TypeVar("F", bound=Callable[..., Any])


def _target_options(command: F) -> F:
    options = [
        click.option(
            "--data-dir",
            type=click.Path(file_okay=False, path_type=Path),
            help=f"The local runtime's data directory (default {DEFAULT_DATA_DIR} when no "
            "deployed queue is named).",
        ),
        click.option(
            "--dlq-url",
            metavar="URL",
            help="A deployed stack's dead-letter queue URL (output of the stack or the console).",
        ),
        click.option(
            "--queue-url",
            metavar="URL",
            help="The ingestion queue to redrive into; found from the DLQ's redrive policy "
            "when omitted.",
        ),
        click.option(
            "--stack-suffix",
            metavar="SUFFIX",
            help="Look up the deployed stack's queues by name: iot-ingestion-queue-SUFFIX and "
            "iot-ingestion-dlq-SUFFIX.",
        ),
        click.option("--region", help="AWS region of the queues (default: from the URL or AWS)."),
        click.option(
            "--aws-profile", help="AWS profile to use (default: AWS_PROFILE / the chain)."
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group("dlq", context_settings={"help_option_names": ["-h", "--help"]})
def dlq() -> None:
    """Inspect and replay messages the processor failed max_receive_count times.

    \b
    Local runtime:    iot-pipeline dlq list --data-dir .iot-pipeline
    Deployed stack:   iot-pipeline dlq list --stack-suffix dev --region eu-west-1
    Replay them:      iot-pipeline dlq redrive --data-dir .iot-pipeline

    Fix the cause first (a bad config, a missing permission): redrive sends every message
    back to the processor, and a message that fails again returns to the DLQ.
    """


@dlq.command("list")
@_target_options
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="Show at most this many messages.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per message (with body).")
def list_command(*, limit: int, as_json: bool, **target: Any) -> None:
    """List the dead letters: id, receive count, when sent, readings and devices."""
    with _opened(**target) as queue:
        letters = queue.list_letters(limit=limit)
    if as_json:
        for letter in letters:
            click.echo(json.dumps(asdict(letter), sort_keys=True))
        return
    if not letters:
        click.echo("The dead-letter queue is empty.")
        return
    for letter in letters:
        click.echo(_describe(letter))
    click.echo(f"{len(letters)} message(s) in the dead-letter queue.")


@dlq.command("redrive")
@_target_options
def redrive_command(**target: Any) -> None:
    """Move every dead letter back to the ingestion queue for another try."""
    with _opened(**target) as queue:
        moved = queue.redrive()
    click.echo(f"Redrove {moved} message(s) to the ingestion queue.")


def _describe(letter: DeadLetterSummary) -> str:
    sent = _iso(letter.sent_at) if letter.sent_at is not None else "?"
    if letter.readings is None:
        content = f"not a readings message: {letter.body[:80]!r}"
    else:
        shown = ", ".join(letter.reading_ids)
        more = "" if len(letter.reading_ids) >= letter.readings else ", ..."
        content = (
            f"{letter.readings} reading(s) from {', '.join(letter.devices) or '?'} [{shown}{more}]"
        )
    return f"{letter.message_id}  received {letter.receive_count}x  sent {sent}  {content}"


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextmanager
def _opened(
    *,
    data_dir: Path | None,
    dlq_url: str | None,
    queue_url: str | None,
    stack_suffix: str | None,
    region: str | None,
    aws_profile: str | None,
) -> Iterator[DeadLetterQueue]:
    if dlq_url and stack_suffix:
        raise click.UsageError("give --dlq-url or --stack-suffix, not both")
    deployed = bool(dlq_url or stack_suffix)
    if deployed and data_dir is not None:
        raise click.UsageError("--data-dir is for the local runtime; drop it for a deployed DLQ")
    if queue_url and not deployed:
        raise click.UsageError("--queue-url needs --dlq-url (the local runtime has one queue)")
    queue: DeadLetterQueue | None = None
    try:
        if deployed:
            queue = _sqs_queue(
                dlq_url=dlq_url,
                queue_url=queue_url,
                stack_suffix=stack_suffix,
                region=region,
                aws_profile=aws_profile,
            )
        else:
            queue = LocalDeadLetters(data_dir or DEFAULT_DATA_DIR)
        yield queue
    except (DeadLetterError, StoreUnavailableError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if queue is not None:
            queue.close()


def _sqs_queue(
    *,
    dlq_url: str | None,
    queue_url: str | None,
    stack_suffix: str | None,
    region: str | None,
    aws_profile: str | None,
) -> SqsDeadLetters:
    # boto3 is imported here so `iot-pipeline dlq --help` and the local path stay fast.
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    if region is None and dlq_url:
        found = _REGION_IN_URL.match(dlq_url)
        region = found.group(1) if found else None
    try:
        client = boto3.Session(region_name=region, profile_name=aws_profile).client("sqs")
        if stack_suffix:
            from iot_pipeline_backend.infra.constants import ResourceNames

            names = ResourceNames(suffix=stack_suffix)
            dlq_url = client.get_queue_url(QueueName=names.dead_letter_queue)["QueueUrl"]
            queue_url = queue_url or client.get_queue_url(QueueName=names.queue)["QueueUrl"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise DeadLetterError(
            f"cannot find the stack's queues for suffix {stack_suffix!r}: "
            f"{error.get('Code', 'error')} {error.get('Message', '')}".strip()
        ) from exc
    except BotoCoreError as exc:
        raise DeadLetterError(f"cannot reach SQS: {exc}") from exc
    assert dlq_url is not None
    return SqsDeadLetters(client, dlq_url=dlq_url, queue_url=queue_url)
