"""One device's MQTT 3.1.1 connection: CONNECT checks, publish → ingest → PUBACK, errors.

Packets are decoded and encoded by amqtt's codec (``amqtt.mqtt``); this module holds only
the rules of this pipeline, which a general broker's hooks cannot express (its PUBACK goes
out before any plugin sees the message):

* the thing name is the subject CN of the client certificate the TLS layer verified; a
  revoked certificate (serial in the CRL), a client id other than the thing name, or a
  protocol other than 3.1.1 is refused in the CONNACK (codes 5, 2, 1), as IoT Core's policy
  ``iot:Connect`` on ``client/${iot:Connection.Thing.ThingName}`` refuses it;
* a PUBLISH on ``iot-pipeline/<thing>/readings`` is ingested first and acknowledged
  after: the PUBACK (QoS 1) or PUBREC (QoS 2) leaves only once the reading is stored and
  queued. A refused payload (invalid, or another device's ``device_id``) stores nothing, is
  acknowledged so the device does not resend it, and the device gets the JSON error body on
  ``iot-pipeline/<thing>/errors``. A store failure is not acknowledged: the connection is
  closed so the client resends after reconnecting;
* a PUBLISH on any other topic, as with IoT Core, closes the connection (MQTT 3.1.1 has no
  negative acknowledgement, [MQTT-3.3.5-2]);
* SUBSCRIBE is granted for the device's own errors topic only (QoS 0), 0x80 otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from amqtt.adapters import BufferReader, StreamReaderAdapter
from amqtt.errors import AMQTTError, MQTTError, NoDataError
from amqtt.mqtt import packet_class
from amqtt.mqtt.connack import (
    CONNECTION_ACCEPTED,
    IDENTIFIER_REJECTED,
    NOT_AUTHORIZED,
    UNACCEPTABLE_PROTOCOL_VERSION,
    ConnackPacket,
)
from amqtt.mqtt.connect import ConnectPacket
from amqtt.mqtt.packet import (
    CONNECT,
    DISCONNECT,
    PINGREQ,
    PUBACK,
    PUBLISH,
    PUBREL,
    SUBSCRIBE,
    UNSUBSCRIBE,
    MQTTFixedHeader,
)
from amqtt.mqtt.pingresp import PingRespPacket
from amqtt.mqtt.puback import PubackPacket
from amqtt.mqtt.pubcomp import PubcompPacket
from amqtt.mqtt.publish import PublishPacket
from amqtt.mqtt.pubrec import PubrecPacket
from amqtt.mqtt.pubrel import PubrelPacket
from amqtt.mqtt.suback import SubackPacket
from amqtt.mqtt.subscribe import SubscribePacket
from amqtt.mqtt.unsuback import UnsubackPacket
from amqtt.mqtt.unsubscribe import UnsubscribePacket
from iot_pipeline_common import limits
from iot_pipeline_common.errors import ContractError, ErrorCode
from iot_pipeline_common.models import ErrorBody

from iot_pipeline_backend.errors import StoreUnavailableError
from iot_pipeline_backend.local.logs import LOGGER_NAME
from iot_pipeline_backend.mqtt import errors_topic, readings_topic
from iot_pipeline_backend.mqtt.bridge import error_body

_log = logging.getLogger(f"{LOGGER_NAME}.mqtt")

#: MQTT 3.1.1's protocol level in CONNECT, and MQTT 5's.
PROTOCOL_LEVEL_311 = 4
PROTOCOL_LEVEL_5 = 5
#: An MQTT 5 CONNACK: no session, reason 0x84 Unsupported Protocol Version, no properties
#: (MQTT 5.0 §3.2.2.2); the one packet this server speaks in MQTT 5, to refuse it.
MQTT5_UNSUPPORTED_VERSION = b"\x20\x03\x00\x84\x00"
#: A CONNECT holds a client id, a will and credentials: a few KB at most in practice.
MAX_CONNECT_BYTES = 65_535 * 4
SUBACK_FAILURE = 0x80
#: A PUBLISH larger than an ingest body plus its topic is refused before it is read whole.
MAX_PACKET_BYTES = limits.MAX_BODY_BYTES + 2 + 65_535 + 2
CONNECT_TIMEOUT_S = 10.0

#: (thing name, payload) → the number of stored readings; raises ContractError or
#: StoreUnavailableError. Runs the blocking ingest off the event loop.
Ingest = Callable[[str, bytes], Awaitable[int]]


class _DisconnectError(Exception):
    """End this connection (the reason is logged where it is raised)."""


@dataclass(frozen=True, kw_only=True)
class PeerIdentity:
    """What the TLS layer proved about the client: its thing name and certificate serial."""

    thing_name: str | None
    serial: int


class DeviceSession:
    """Serves one TLS connection until the client leaves, breaks a rule, or the server stops."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        identity: PeerIdentity,
        is_revoked: Callable[[int], bool],
        ingest: Ingest,
    ) -> None:
        self._reader = StreamReaderAdapter(reader)
        self._writer = writer
        self._identity = identity
        self._is_revoked = is_revoked
        self._ingest = ingest
        self._thing = identity.thing_name or ""
        self._errors_subscribed = False
        #: True while a packet is being handled; a stopping server waits for it.
        self.busy = False
        self.stopping = False

    async def serve(self) -> None:
        """Run the connection to its end; never raises for a client's misbehaviour."""
        try:
            await self._handshake()
            while not self.stopping:
                await self._handle(await self._next_packet(self._keep_alive_timeout))
        except _DisconnectError:
            pass
        except TimeoutError:
            _log.info("mqtt keep-alive or connect time expired", extra={"thing": self._thing})
        except (NoDataError, MQTTError, AMQTTError, OSError, asyncio.IncompleteReadError):
            _log.info("mqtt connection ended", extra={"thing": self._thing})
        except Exception:
            # A packet the codec cannot decode ends this connection, never the server.
            _log.exception("mqtt connection failed", extra={"thing": self._thing})
        finally:
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()

    async def _handshake(self) -> None:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            fixed = await MQTTFixedHeader.from_stream(self._reader)
            if fixed is None or fixed.packet_type != CONNECT:
                raise _DisconnectError
            if fixed.remaining_length > MAX_CONNECT_BYTES:
                raise _DisconnectError
            raw = await self._reader.read(fixed.remaining_length)
        level = _protocol_level(raw)
        if level != PROTOCOL_LEVEL_311:
            # Refuse before decoding: the codec reads 3.1.1 only, and an MQTT 5 client
            # understands only an MQTT 5 CONNACK ("Unsupported Protocol Version").
            _log.warning("mqtt connect refused", extra={"reason": f"protocol level {level}"})
            refused = MQTT5_UNSUPPORTED_VERSION if level == PROTOCOL_LEVEL_5 else None
            await self._send_bytes(
                refused or ConnackPacket.build(0, UNACCEPTABLE_PROTOCOL_VERSION).to_bytes()
            )
            raise _DisconnectError
        packet = await ConnectPacket.from_stream(BufferReader(raw), fixed)
        refusal = self._refusal(packet)
        if refusal is not None:
            code, why = refusal
            _log.warning(
                "mqtt connect refused", extra={"thing": self._thing, "reason": why, "code": code}
            )
            await self._send(ConnackPacket.build(0, code))
            raise _DisconnectError
        keep_alive = packet.keep_alive
        # [MQTT-3.1.2-24]: one and a half keep-alive periods without a packet ends it.
        self._keep_alive_timeout = keep_alive * 1.5 if keep_alive else None
        await self._send(ConnackPacket.build(0, CONNECTION_ACCEPTED))
        _log.info("mqtt device connected", extra={"thing": self._thing})

    _keep_alive_timeout: float | None = None

    def _refusal(self, connect: ConnectPacket) -> tuple[int, str] | None:
        if not self._identity.thing_name:
            return NOT_AUTHORIZED, "the certificate has no subject CN (thing name)"
        if self._is_revoked(self._identity.serial):
            return NOT_AUTHORIZED, "the certificate is revoked"
        if connect.client_id != self._thing:
            return IDENTIFIER_REJECTED, "the client id is not the certificate's thing name"
        return None

    async def _next_packet(self, limit_s: float | None) -> tuple[MQTTFixedHeader, Any]:
        async with asyncio.timeout(limit_s):
            fixed = await MQTTFixedHeader.from_stream(self._reader)
            if fixed is None:
                raise _DisconnectError
            if fixed.remaining_length > MAX_PACKET_BYTES:
                _log.warning("mqtt packet too large", extra={"thing": self._thing})
                raise _DisconnectError
            return fixed, await packet_class(fixed).from_stream(self._reader, fixed_header=fixed)

    async def _handle(self, received: tuple[MQTTFixedHeader, Any]) -> None:
        fixed, packet = received
        self.busy = True
        try:
            kind = fixed.packet_type
            if kind == PUBLISH and isinstance(packet, PublishPacket):
                await self._on_publish(packet)
            elif kind == PUBREL and isinstance(packet, PubrelPacket):
                await self._send(PubcompPacket.build(packet.packet_id))
            elif kind == SUBSCRIBE and isinstance(packet, SubscribePacket):
                await self._on_subscribe(packet)
            elif kind == UNSUBSCRIBE and isinstance(packet, UnsubscribePacket):
                assert packet.variable_header is not None
                await self._send(UnsubackPacket.build(packet.variable_header.packet_id))
            elif kind == PINGREQ:
                await self._send(PingRespPacket.build())
            elif kind == DISCONNECT:
                raise _DisconnectError
            elif kind == PUBACK and isinstance(packet, PubackPacket):
                pass  # the server publishes errors at QoS 0; nothing awaits an ack
            else:
                # [MQTT-3.1.0-2]: a second CONNECT (or a server-only packet) is a violation.
                raise _DisconnectError
        finally:
            self.busy = False

    async def _on_publish(self, packet: PublishPacket) -> None:
        topic, qos, packet_id = packet.topic_name or "", packet.qos or 0, packet.packet_id
        if topic != readings_topic(self._thing):
            _log.warning(
                "mqtt publish not authorized", extra={"thing": self._thing, "topic": topic}
            )
            await self._tell(
                ErrorBody(
                    message=f"This device may publish to {readings_topic(self._thing)} only, "
                    f"not {topic!r}; the connection is closed",
                    error=ErrorCode.ACCESS_DENIED.value,
                )
            )
            raise _DisconnectError
        try:
            await self._ingest(self._thing, packet.data or b"")
        except ContractError as exc:
            # Refused for good: acknowledge so the device does not resend, say why.
            _log.info("mqtt payload refused", extra={"thing": self._thing, "error": exc.message})
            await self._tell(error_body(exc))
        except StoreUnavailableError as exc:
            _log.exception("a store or the queue is unavailable; publish not acknowledged")
            await self._tell(error_body(exc))
            raise _DisconnectError from None
        if qos == 1 and packet_id is not None:
            await self._send(PubackPacket.build(packet_id))
        elif qos == 2 and packet_id is not None:
            await self._send(PubrecPacket.build(packet_id))

    async def _on_subscribe(self, packet: SubscribePacket) -> None:
        assert packet.variable_header is not None and packet.payload is not None
        codes = []
        for topic_filter, _qos in packet.payload.topics:
            if topic_filter == errors_topic(self._thing):
                self._errors_subscribed = True
                codes.append(0)
            else:
                codes.append(SUBACK_FAILURE)
        await self._send(SubackPacket.build(packet.variable_header.packet_id, codes))

    async def _tell(self, body: ErrorBody) -> None:
        if not self._errors_subscribed:
            return
        data = body.model_dump_json(exclude_none=True).encode()
        await self._send(
            PublishPacket.build(errors_topic(self._thing), data, None, False, 0, False)
        )

    async def _send(self, packet: Any) -> None:
        await self._send_bytes(packet.to_bytes())

    async def _send_bytes(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()


def _protocol_level(connect_body: bytes) -> int | None:
    """The protocol level byte of a CONNECT body: after the protocol name (2-byte length)."""
    if len(connect_body) < 2:
        return None
    at = 2 + int.from_bytes(connect_body[:2], "big")
    return connect_body[at] if at < len(connect_body) else None


__all__ = ["DeviceSession", "Ingest", "PeerIdentity"]
