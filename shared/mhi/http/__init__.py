"""The one outbound HTTP client and its URL policy (connectors, Qlik, notifications).

`policy` decides which URLs may be called (https, public addresses only, a system's credentials
only to its own hosts), `client` makes the calls (pinned to the checked address, retries, no
redirects, `%20` query encoding), `redact` is the one rule for what reaches a message or a log,
`endpoints` resolves the URLs and host patterns an operator sets.
"""

from __future__ import annotations

from mhi.http.client import (
    Call,
    Destination,
    OutboundClient,
    Outcome,
    Response,
    Tls,
    encode_query,
)
from mhi.http.endpoints import Configured, configured_url, host_scope, optional_secret
from mhi.http.policy import (
    HostScope,
    Resolver,
    UrlPolicy,
    UrlRefusedError,
    system_resolver,
    valid_url,
)
from mhi.http.redact import redact
from mhi.http.retry import RetryRules

__all__ = [
    "Call",
    "Configured",
    "Destination",
    "HostScope",
    "OutboundClient",
    "Outcome",
    "Resolver",
    "Response",
    "RetryRules",
    "Tls",
    "UrlPolicy",
    "UrlRefusedError",
    "configured_url",
    "encode_query",
    "host_scope",
    "optional_secret",
    "redact",
    "system_resolver",
    "valid_url",
]
