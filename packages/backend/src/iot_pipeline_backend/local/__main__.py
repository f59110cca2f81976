"""``python -m iot_pipeline_backend.local``: the same as ``iot-pipeline local``."""

from iot_pipeline_backend.local.commands import local

if __name__ == "__main__":
    local(prog_name="python -m iot_pipeline_backend.local")
