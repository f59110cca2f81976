"""Process: a raw reading becomes a processed reading; rules and thresholds raise alerts."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from iot_pipeline_common import keys
from iot_pipeline_common.models import Anomaly, PipelineConfig, ProcessedItem, RawItem

from iot_pipeline_backend.ports import Alert, AlertSink, ProcessedReadingStore

_TENTH = Decimal("0.1")


def one_decimal(value: float | Decimal) -> float:
    """Round half up to one decimal, in decimal arithmetic (25.55 → 25.6, not 25.5)."""
    if isinstance(value, Decimal):
        return float(value.quantize(_TENTH, rounding=ROUND_HALF_UP))
    return _one_decimal(repr(value))


def celsius_to_fahrenheit(celsius: float) -> float:
    """°C → °F with one decimal: 25.5 → 77.9."""
    return _fahrenheit(repr(celsius))


# Keyed by the value's repr, which is what the decimal arithmetic starts from (and keeps
# -0.0 apart from 0.0): a fleet's temperatures repeat a few thousand values, so most
# readings skip the Decimal work (~3 µs a reading).
@functools.lru_cache(maxsize=8192)
def _one_decimal(text: str) -> float:
    return float(Decimal(text).quantize(_TENTH, rounding=ROUND_HALF_UP))


@functools.lru_cache(maxsize=8192)
def _fahrenheit(text: str) -> float:
    return one_decimal(Decimal(text) * 9 / 5 + 32)


def find_anomalies(sensor_data: dict[str, float], config: PipelineConfig) -> list[Anomaly]:
    """Every configured range a sensor value falls outside of."""
    found: list[Anomaly] = []
    for name, bounds in config.ranges.items():
        value = sensor_data.get(name)
        if value is None:
            continue
        if bounds.min is not None and value < bounds.min:
            found.append(Anomaly(field=name, value=value, limit=bounds.min, rule="min"))
        elif bounds.max is not None and value > bounds.max:
            found.append(Anomaly(field=name, value=value, limit=bounds.max, rule="max"))
    return found


def process_reading(
    raw: RawItem, *, config: PipelineConfig, now_ms: int, processed_at: str | None = None
) -> ProcessedItem:
    """The processed record of one raw reading (same keys, so a rewrite replaces it).

    ``processed_at`` is ``now_ms`` as ISO text, when the caller has it (once per batch).
    """
    data = raw.sensor_data
    temperature = data.get("temperature")
    anomalies = find_anomalies(data, config)
    return ProcessedItem(
        device_id=raw.device_id,
        event_date=raw.event_date,
        timestamp=raw.timestamp,
        reading_id=raw.reading_id,
        temperature=temperature,
        temperature_celsius=None if temperature is None else one_decimal(temperature),
        temperature_fahrenheit=None if temperature is None else celsius_to_fahrenheit(temperature),
        humidity=data.get("humidity"),
        pressure=data.get("pressure"),
        processed_at=processed_at or keys.iso_utc(now_ms),
        status="anomaly" if anomalies else "processed",
        anomalies=anomalies or None,
        sensor_data=dict(data),
        seq=raw.seq,
        ingested_at=raw.ingested_at,
        expires_at=raw.expires_at,
    )


def rule_alerts(item: ProcessedItem, config: PipelineConfig) -> list[Alert]:
    """Alerts of every configured rule the reading trips."""
    alerts: list[Alert] = []
    data = item.sensor_data or {}
    for rule in config.alert_rules:
        value = data.get(rule.field)
        if value is None:
            continue
        tripped = (rule.above is not None and value > rule.above) or (
            rule.below is not None and value < rule.below
        )
        if tripped:
            alerts.append(
                Alert(
                    subject=f"iot-pipeline alert {rule.name}: {item.device_id}",
                    message=(
                        f"Device {item.device_id} reported {rule.field}={value:g} at "
                        f"{keys.iso_utc(item.timestamp)}, tripping rule {rule.name!r}."
                    ),
                    kind="alert_rule",
                    device_id=item.device_id,
                    details={
                        "rule": rule.name,
                        "field": rule.field,
                        "value": value,
                        "above": rule.above,
                        "below": rule.below,
                        "reading_id": item.reading_id,
                        "timestamp": item.timestamp,
                    },
                )
            )
    return alerts


def process_readings(
    readings: Sequence[RawItem],
    *,
    processed_store: ProcessedReadingStore,
    alerts: AlertSink,
    config: PipelineConfig,
    now_ms: int,
) -> list[ProcessedItem]:
    """Process, store (an upsert, so redelivery is harmless), then publish rule alerts."""
    processed_at = keys.iso_utc(now_ms)
    items = [
        process_reading(raw, config=config, now_ms=now_ms, processed_at=processed_at)
        for raw in readings
    ]
    processed_store.store_processed_readings(items)
    for item in items:
        for alert in rule_alerts(item, config):
            alerts.publish_alert(alert)
    return items


def check_error_threshold(
    *, failed: int, total: int, config: PipelineConfig, alerts: AlertSink
) -> bool:
    """Publish an alert when a batch's failures reach ``error_threshold``; True if it did."""
    if failed < config.error_threshold:
        return False
    alerts.publish_alert(
        Alert(
            subject="iot-pipeline: processing failures reached the error threshold",
            message=(
                f"{failed} of {total} messages in one batch failed to process "
                f"(error_threshold is {config.error_threshold}); they will be retried and "
                "moved to the dead-letter queue after the maximum receive count."
            ),
            kind="error_threshold",
            details={"failed": failed, "total": total, "threshold": config.error_threshold},
        )
    )
    return True
