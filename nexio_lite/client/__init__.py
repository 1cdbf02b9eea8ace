"""The Python client of nexio_lite (docs: README, "Python client").

```python
from nexio_lite.client import Client, AsyncClient, NexioError, verify_webhook

with Client("http://127.0.0.1:8080", api_key="nx_live_…") as c:
    job = c.wait(c.submit(profile={...}, pool="carriers:all").id, timeout=60)
    job.candidates[0].name, job.candidates[0].scores["appetite"], job.raw
    screen = c.wait(c.submit_screen("We guarantee approval.", context={"state": "CA"}).id)
    screen.screen.risk_score, screen.screen.findings[0].rule_id
```

`AsyncClient` has the same methods, awaitable. Importing this package starts nothing
and needs only the package's own dependencies (aiohttp, attrs, orjson).
"""

from nexio_lite.client._protocol import RetryPolicy
from nexio_lite.client.aio import AsyncClient
from nexio_lite.client.errors import (
    Conflict,
    ConnectionFailed,
    Forbidden,
    InvalidRequest,
    InvalidResponse,
    NexioError,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    Unavailable,
    Unprocessable,
    WaitTimeout,
)
from nexio_lite.client.models import (
    Candidate,
    Delivery,
    DeliveryAttempt,
    Finding,
    Job,
    JobError,
    Occurrence,
    Pool,
    Redelivery,
    ScreenResult,
    Submitted,
)
from nexio_lite.client.sync import Client
from nexio_lite.client.webhooks import WebhookVerificationError, verify_webhook

__all__ = [
    "AsyncClient",
    "Candidate",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "Delivery",
    "DeliveryAttempt",
    "Finding",
    "Forbidden",
    "InvalidRequest",
    "InvalidResponse",
    "Job",
    "JobError",
    "NexioError",
    "NotFound",
    "Occurrence",
    "Pool",
    "RateLimited",
    "Redelivery",
    "RetryPolicy",
    "ScreenResult",
    "ServerError",
    "Submitted",
    "Unauthorized",
    "Unavailable",
    "Unprocessable",
    "WaitTimeout",
    "WebhookVerificationError",
    "verify_webhook",
]
