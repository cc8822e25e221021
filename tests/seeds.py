"""Log lines quoted from the seeds (../shared/seeds/): five errors, then two harmless lines."""

SEED_LINES = [
    "sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection timed out, "
    "timeout 30.00",
    "AttributeError: 'Worker' object has no attribute 'full_name'",
    "sqlalchemy.exc.MissingGreenlet: greenlet_spawn has not been called; can't call await_only() here.",
    "HTTP API Called: POST /v1.0/invoke/notification-service/method/api/remind 404 Not Found",
    "event_type: None",
    "INFO request done error_count=0",
    "INFO GET /errors 200 12ms",
]
