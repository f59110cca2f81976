"""The pipeline's logic, written once: it talks to ports and knows nothing of AWS or SQLite.

- :mod:`.ingest` — validate-then-store-then-enqueue of raw readings
- :mod:`.process` — raw reading → processed reading, anomalies, alert rules, error threshold
- :mod:`.query` — time-range queries with signed, opaque pagination tokens
- :mod:`.reprocess` — replay raw readings through the queue
- :mod:`.messages` — the queue message format shared by every adapter and the processor
"""
