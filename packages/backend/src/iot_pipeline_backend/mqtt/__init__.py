"""Devices over MQTT: X.509 identities, the local TLS server, and the bridge to ingest.

* :mod:`.certificates` — the local certificate authority in the data dir: it issues each
  device a certificate whose subject CN is its thing name (= ``device_id``), like IoT Core's
  "create certificate", and keeps a signed revocation list (CRL) checked at every connect;
* :mod:`.bridge` — a published payload → the same domain ingest as ``POST /ingest``, with
  the rule that a device publishes only its own readings (shared with the AWS IoT rule's
  handler, so it imports neither the codec nor ``cryptography``);
* :mod:`.server` / :mod:`.session` — MQTT 3.1.1 over TLS with client certificates, which
  sends a PUBACK only once the reading is stored and queued;
* :mod:`.command` — ``iot-pipeline devices add | list | revoke``.
"""

from __future__ import annotations

#: Every topic of a device sits under ``iot-pipeline/<thing name>/``.
TOPIC_ROOT = "iot-pipeline"
READINGS_SUFFIX = "readings"
ERRORS_SUFFIX = "errors"


def readings_topic(thing_name: str) -> str:
    """``iot-pipeline/<thing>/readings``: where a device publishes (QoS 1)."""
    return f"{TOPIC_ROOT}/{thing_name}/{READINGS_SUFFIX}"


def errors_topic(thing_name: str) -> str:
    """``iot-pipeline/<thing>/errors``: where a device learns why a payload was refused."""
    return f"{TOPIC_ROOT}/{thing_name}/{ERRORS_SUFFIX}"


__all__ = ["ERRORS_SUFFIX", "READINGS_SUFFIX", "TOPIC_ROOT", "errors_topic", "readings_topic"]
