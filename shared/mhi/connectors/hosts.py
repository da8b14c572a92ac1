"""Where a connector's requests go and which hosts may see its credentials.

A system with public API hosts (`System.api_hosts`) uses its default base URL unless the
operator set the account's secret `<prefix>-base-url` or the deployment setting
`MHI_<SYSTEM>_BASE_URL`; its credentials go only to its hosts (`MHI_<SYSTEM>_HOSTS` replaces
them) and to the hosts of URLs the operator set. A system without one must have the secret (or
setting): there is no default, and a flow cannot supply it. Token endpoints follow the same
rule with `<prefix>-token-url` / `MHI_<SYSTEM>_TOKEN_URL`.
"""

from __future__ import annotations

from dataclasses import dataclass

from mhi.connectors.spec import Credentials, Endpoints, ExtractConfig, System
from mhi.errors import SecretAccessError
from mhi.http import HostScope, configured_url, host_scope, optional_secret
from mhi.http.endpoints import Configured, setting_name
from mhi.steps.sdk import StepContext


@dataclass(frozen=True)
class Resolved:
    """The endpoints of one step turn and the hosts its credentials may reach."""

    endpoints: Endpoints
    scope: HostScope
    base_source: str


def resolve(
    ctx: StepContext, system: System, config: ExtractConfig, creds: Credentials
) -> Resolved:
    """Resolve base and token URLs and the host scope for one step turn.

    Raises:
        SecretAccessError: a system without a public host has no base URL secret or setting.
        UrlRefusedError: an operator-set URL the policy refuses.
    """
    settings = ctx.services.settings
    secret = optional_secret(ctx.secret)
    default = system.default_base(config) if system.default_base else None
    base = configured_url(
        settings, system.name, "base-url", secret, creds.name("base-url"), default
    )
    if base is None:
        raise SecretAccessError(
            f"{system.name} has no public API host: set the account's secret "
            f"{ctx.account + '--' + creds.name('base-url')!r} (or the deployment setting "
            f"{setting_name(system.name, 'base-url')}) to its API root, e.g. "
            "https://pms.example-hotel.com/api/v1",
            account=ctx.account,
        )
    token = _token(ctx, system, config, creds, base.url)
    operator = [c.url for c in (base, token) if c is not None and c.by_operator]
    # Without public hosts, the operator's base URL (always set) names the system's host.
    scope = host_scope(settings, system.name, system.api_hosts, operator)
    return Resolved(Endpoints(base.url, token.url if token else None), scope, base.source)


def _token(
    ctx: StepContext, system: System, config: ExtractConfig, creds: Credentials, base: str
) -> Configured | None:
    if system.token is None:
        return None
    default = system.token.default(config, base)
    secret = optional_secret(ctx.secret)
    return configured_url(
        ctx.services.settings, system.name, "token-url", secret, system.token.secret(creds), default
    )
