"""The local runtime: the whole pipeline on one machine, behind an API Gateway-like gateway.

::

    credentials   the ``<data-dir>/credentials`` file (profile ``iot-pipeline-local``)
    auth          SigV4 verification as API Gateway does it for AWS_IAM methods
    events        HTTP request ⇄ API Gateway REST proxy event v1 / Lambda proxy response
    gateway       the ASGI app: stage prefix, routes, body cap, auth, handler in a thread
    runtime       gateway + queue poller + uvicorn, started and stopped together
    testing       ``running_pipeline`` (in-process) and ``running_pipeline_process`` (child)
    commands      the ``iot-pipeline local`` and ``iot-pipeline demo`` commands
"""
