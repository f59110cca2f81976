"""The time an invocation may still spend retrying: the context's, capped for API requests."""

from __future__ import annotations

from dataclasses import dataclass

from iot_pipeline_backend import deadline


@dataclass
class Context:
    remaining_ms: int

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_given_no_invocation_then_there_is_no_bound() -> None:
    assert deadline.seconds_left() is None


def test_given_an_sqs_batch_then_the_contexts_time_less_the_margin() -> None:
    with deadline.invocation(Context(remaining_ms=60_000), api_request=False):
        assert deadline.seconds_left() == 60 - deadline.MARGIN_SECONDS
    assert deadline.seconds_left() is None


def test_given_an_api_request_then_api_gateways_29_s_caps_a_longer_timeout() -> None:
    now = [100.0]
    with deadline.invocation(Context(remaining_ms=900_000), api_request=True, clock=lambda: now[0]):
        assert deadline.seconds_left() == 29 - deadline.MARGIN_SECONDS
        now[0] += 10
        assert deadline.seconds_left() == 19 - deadline.MARGIN_SECONDS


def test_given_a_context_without_remaining_time_then_only_the_api_cap_applies() -> None:
    with deadline.invocation(None, api_request=True, clock=lambda: 0.0):
        assert deadline.seconds_left() == 29 - deadline.MARGIN_SECONDS
    with deadline.invocation(None, api_request=False):
        assert deadline.seconds_left() is None
