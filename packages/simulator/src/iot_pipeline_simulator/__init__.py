"""iot-pipeline."""
