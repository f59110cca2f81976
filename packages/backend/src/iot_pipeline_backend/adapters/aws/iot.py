"""IoT Core's data plane: tell a device on its errors topic why its payload was refused.

The local server publishes the same body on the same topic from inside the connection;
in AWS the Lambda behind the topic rule does it with ``iot-data`` Publish
(https://docs.aws.amazon.com/iot/latest/apireference/API_iotdata_Publish.html).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iot_pipeline_common.models import ErrorBody

from iot_pipeline_backend.adapters.aws._retry import Retrier

if TYPE_CHECKING:
    from mypy_boto3_iot_data.client import IoTDataPlaneClient
else:
    IoTDataPlaneClient = Any


class IotDeviceReplies:
    """Publishes error bodies at QoS 0 (a device that is not subscribed simply misses it)."""

    def __init__(self, client: IoTDataPlaneClient, *, retrier: Retrier | None = None) -> None:
        self._client = client
        self._retrier = retrier or Retrier()

    def tell(self, topic: str, body: ErrorBody) -> None:
        """Publish ``body`` as JSON on ``topic``; raises StoreUnavailableError on failure."""
        payload = body.model_dump_json(exclude_none=True).encode()
        self._retrier.call(
            "iot-data Publish",
            lambda: self._client.publish(topic=topic, qos=0, payload=payload),
        )
