"""CDK app entry (``cdk.json`` runs it): see ``iot_pipeline_backend.infra.app``.

Run directly (``python app.py``), it reads the feature flags and defaults of ``cdk.json``
itself, as the CDK CLI would, so both ways synthesize the same template.
"""

import json
import os
import sys
from pathlib import Path

from aws_cdk import App
from iot_pipeline_backend.infra.app import main

CDK_JSON = Path(__file__).with_name("cdk.json")

if __name__ == "__main__":
    # Context from the CLI (CDK_CONTEXT_JSON) overrides these defaults.
    defaults = json.loads(CDK_JSON.read_text())["context"]
    sys.exit(main(App(outdir=os.environ.get("CDK_OUTDIR") or "cdk.out", context=defaults)))
