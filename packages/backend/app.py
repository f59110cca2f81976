"""CDK app entry (``cdk.json`` runs it): see ``iot_pipeline_backend.infra.app``."""

import sys

from iot_pipeline_backend.infra.app import main

if __name__ == "__main__":
    sys.exit(main())
