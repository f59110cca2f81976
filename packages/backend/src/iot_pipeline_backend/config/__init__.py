"""The pipeline config, for operators: ``iot-pipeline config check FILE``.

- :mod:`.command` — the click commands (validation itself is the config model's and
  :func:`iot_pipeline_backend.adapters.local.files.read_config_file`'s)
"""
