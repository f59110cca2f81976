"""The local runtime's live dashboard, served at ``/dashboard`` beside the API.

* :mod:`.app` — the ASGI app: token gate, page, JSON data endpoints;
* :mod:`.token` — ``<data-dir>/dashboard.token``;
* :mod:`.views` — devices, series and alerts, read through the API's domain code;
* :mod:`.figures` — ingest and processed rates, queue depth, DLQ size;
* ``static/`` — the page, its script and styles, and uPlot (vendored, MIT).
"""

from iot_pipeline_backend.dashboard.app import DASHBOARD_PATH, Dashboard, dashboard_url
from iot_pipeline_backend.dashboard.token import (
    DASHBOARD_TOKEN_FILE,
    load_or_create_dashboard_token,
)

__all__ = [
    "DASHBOARD_PATH",
    "DASHBOARD_TOKEN_FILE",
    "Dashboard",
    "dashboard_url",
    "load_or_create_dashboard_token",
]
