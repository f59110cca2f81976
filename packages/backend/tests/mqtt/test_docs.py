"""docs/mqtt.md's local example, run as written (paths and port pointed at the test's)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from iot_pipeline_backend.cli import main

from .conftest import WAIT_S, MqttPipeline
from .test_publish import _raw

DOC = Path(__file__).resolve().parents[4] / "docs" / "mqtt.md"


def _example_commands() -> list[list[str]]:
    section = DOC.read_text().split("### Provision a device and publish", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None
    joined = block.group(1).replace("\\\n", " ")
    return [shlex.split(line, comments=True) for line in joined.splitlines() if line.strip()]


@pytest.mark.skipif(shutil.which("mosquitto_pub") is None, reason="mosquitto-clients absent")
def test_the_documented_provision_and_publish_store_the_reading(
    mqtt_pipeline: MqttPipeline,
) -> None:
    data_dir = str(mqtt_pipeline.pipeline.data_dir)
    add, _local, publish = _example_commands()

    def here(args: list[str]) -> list[str]:
        return [a.replace(".iot-pipeline", data_dir) for a in args]

    assert add[:3] == ["iot-pipeline", "devices", "add"]
    added = CliRunner().invoke(main, here(add[1:]))
    assert added.exit_code == 0, added.output
    assert publish[0] == "mosquitto_pub"
    command = here(publish)
    command[command.index("-p") + 1] = str(mqtt_pipeline.port)
    done = subprocess.run(command, capture_output=True, text=True, timeout=WAIT_S, check=False)
    assert done.returncode == 0, done.stderr
    [record] = _raw(mqtt_pipeline.pipeline.data_dir, "sensor-1")
    assert record.sensor_data == {"temperature": 21.5, "humidity": 40}
