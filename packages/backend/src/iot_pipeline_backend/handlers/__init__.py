"""Lambda handlers: ``ingestion``, ``processor`` and ``query``, each ``lambda_handler``.

The same functions run in AWS Lambda and in the local runtime. Each is thin: parse the
request, call the domain with the adapters of :mod:`.runtime`, shape the reply; errors are
mapped to responses in one place, :mod:`.http`.
"""
