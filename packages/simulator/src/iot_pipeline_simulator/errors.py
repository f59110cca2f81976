"""The simulator's error tree, mapped to exit codes once, in :mod:`iot_pipeline_simulator.cli`.

::

    SimulatorError              anything iot-sim reports to its user instead of a traceback
     ├── ProfileError           an unknown profile name or an invalid profile
     ├── RunConfigError         run options that cannot work together (rate, batch, duration...)
     └── ReportError            a report file that cannot be read or written
"""

from __future__ import annotations


class SimulatorError(Exception):
    """Base of every error iot-sim reports as a one-line message."""


class ProfileError(SimulatorError):
    """An unknown profile name or an invalid profile definition."""


class RunConfigError(SimulatorError):
    """Run options that cannot work together."""


class ReportError(SimulatorError):
    """A report file that cannot be read, parsed or written."""
