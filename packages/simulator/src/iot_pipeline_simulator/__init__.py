"""iot-sim: realistic IoT devices driving an iot-pipeline at load, and a loss check after.

::

    profiles   DeviceProfile / SensorModel / FaultRates / DeliveryBehaviour, PROFILES
    devices    Fleet: deterministic readings per (seed, device, slot); SimReading, Send
    runner     LoadRunner: the open-loop scheduler over a ReadingSink; RunOptions
    outcomes   RunResult: a run's RunTotals and DeviceLedger, with its latency statistics
    report     RunReport (the JSON report) and build_report; html_report renders it
    verify     verify_run: acknowledged vs stored, per device
    pipeline   the SDK adapter (PipelineSink, stored_readings); cli: the ``iot-sim`` command

See ``docs/simulator.md``.
"""

from iot_pipeline_simulator.devices import Fleet, Send, SimReading
from iot_pipeline_simulator.errors import ProfileError, ReportError, RunConfigError, SimulatorError
from iot_pipeline_simulator.outcomes import RunResult
from iot_pipeline_simulator.profiles import PROFILES, DeviceProfile, get_profile
from iot_pipeline_simulator.report import RunReport, build_report
from iot_pipeline_simulator.runner import LoadRunner, ReadingSink, RunOptions
from iot_pipeline_simulator.verify import VerifyResult, verify_run

__all__ = [
    "PROFILES",
    "DeviceProfile",
    "Fleet",
    "LoadRunner",
    "ProfileError",
    "ReadingSink",
    "ReportError",
    "RunConfigError",
    "RunOptions",
    "RunReport",
    "RunResult",
    "Send",
    "SimReading",
    "SimulatorError",
    "VerifyResult",
    "build_report",
    "get_profile",
    "verify_run",
]
