"""Step kinds `ms-qlik-app-reload` and `ms-qlik-automation`.

Both follow long jobs across turns (`mhi.qlik.jobs`): the first turn starts the job (or finds
one already running for the same app), later turns poll once each and return `Wait` until the job
ends or `max_wait_seconds` passes.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from mhi.config import Settings
from mhi.errors import SecretAccessError
from mhi.http import OutboundClient, RetryRules, Tls, UrlPolicy
from mhi.http.endpoints import configured_url, host_scope, optional_secret
from mhi.http.policy import Resolver
from mhi.qlik.client import QRS, QlikApi, cloud_scope
from mhi.qlik.cloud import CloudAutomation, CloudReloads
from mhi.qlik.config import (
    QRS_URL_SECRET,
    QRS_URL_SETTING,
    AppReloadConfig,
    AutomationConfig,
    QrsOptions,
    WaitOptions,
)
from mhi.qlik.jobs import Follow, JobBackend, run_turn
from mhi.qlik.qrs import QrsReloads, add_xrfkey
from mhi.qlik.trigger import run_triggered
from mhi.steps.sdk import StepContext, StepKind, Wait

# Secret names these steps read (per account: `<account>--<name>`); terraform grants exactly these.
SECRETS = (
    "qlik-api-key",
    "qlik-client-cert",
    "qlik-client-key",
    "qlik-ca-cert",
    "qlik-automation-token",
    QRS_URL_SECRET,
)


@dataclass(frozen=True)
class QlikOptions:
    """Process-level knobs (tests shrink the sleeps and may resolve names themselves)."""

    sleep: Callable[[float], None] = time.sleep
    max_tries: int = 4
    budget_seconds: float = 20.0  # sleeping allowed for one HTTP call inside one turn
    resolver: Resolver | None = None

    def rules(self) -> RetryRules:
        """Return the retry rules of one HTTP call."""
        return RetryRules(max_tries=self.max_tries, budget_seconds=self.budget_seconds)

    def outbound(self, settings: Settings) -> OutboundClient:
        """The outbound client of one turn (close it when the turn ends)."""
        return OutboundClient(UrlPolicy.from_settings(settings, self.resolver), self.sleep)


def _follow(config: WaitOptions, what: str, service: str, sequential: bool = False) -> Follow:
    return Follow(
        what=what,
        service=service,
        max_wait_seconds=config.max_wait_seconds,
        poll_seconds=config.poll_seconds,
        max_poll_seconds=config.max_poll_seconds,
        cancel_on_deadline=config.cancel_on_deadline,
        sequential=sequential,
    )


@contextlib.contextmanager
def cloud_api(
    ctx: StepContext, tenant_url: str, timeout: float, options: QlikOptions, triggered: bool = False
) -> Iterator[QlikApi]:
    """A Qlik Cloud client: Bearer `qlik-api-key`, or `X-Execution-Token` for trigger URLs; the
    credentials go only to Qlik Cloud hosts."""
    if triggered:
        token = ctx.secret("qlik-automation-token")
        headers = {"X-Execution-Token": token}
    else:
        token = ctx.secret("qlik-api-key")
        headers = {"Authorization": f"Bearer {token}"}
    headers["Accept"] = "application/json"
    settings = ctx.services.settings
    with options.outbound(settings) as outbound:
        yield QlikApi(
            "Qlik Cloud",
            tenant_url,
            headers,
            options.rules(),
            outbound,
            cloud_scope(settings),
            timeout,
            (token,),
        )


def qrs_base(ctx: StepContext) -> str:
    """The QRS server's address: the account's secret, else the deployment setting."""
    settings = ctx.services.settings
    found = configured_url(
        settings, QRS, "base-url", optional_secret(ctx.secret), QRS_URL_SECRET, None
    )
    if found is None:
        raise SecretAccessError(
            f"Qlik Sense QRS has no address: set the account's secret "
            f"'{ctx.account}--{QRS_URL_SECRET}' or the deployment setting {QRS_URL_SETTING} "
            "(https://server:4242, or https://server/<virtual proxy prefix>)",
            account=ctx.account,
        )
    return found.url


@contextlib.contextmanager
def qrs_api(
    ctx: StepContext, qrs: QrsOptions, timeout: float, options: QlikOptions
) -> Iterator[QlikApi]:
    """A QRS client: xrfkey on every call; certificate, JWT or header authentication; calls go
    only to the server the account's secret names."""
    base = qrs_base(ctx)
    headers = {
        "X-Qlik-User": f"UserDirectory={qrs.user_directory}; UserId={qrs.user_id}",
        "Accept": "application/json",
    }
    secrets: list[str] = []
    settings = ctx.services.settings
    with tempfile.TemporaryDirectory(prefix="mhi-qrs-") as tmp, options.outbound(settings) as out:
        tls = Tls(verify=qrs.verify_tls)
        if qrs.auth == "jwt":
            token = ctx.secret("qlik-api-key")
            headers["Authorization"] = f"Bearer {token}"
            secrets.append(token)
        elif qrs.auth == "certificate":
            cert = _pem_file(tmp, "client.pem", ctx.secret("qlik-client-cert"))
            key = _pem_file(tmp, "client-key.pem", ctx.secret("qlik-client-key"))
            tls = Tls(verify=qrs.verify_tls, cert_file=cert, key_file=key)
        if qrs.verify_tls and qrs.use_ca_secret:
            ca = _pem_file(tmp, "ca.pem", ctx.secret("qlik-ca-cert"))
            tls = Tls(True, ca, tls.cert_file, tls.key_file)
        scope = host_scope(settings, QRS, [], [base])
        yield QlikApi(
            "Qlik Sense QRS",
            base,
            headers,
            options.rules(),
            out,
            scope,
            timeout,
            tuple(secrets),
            add_xrfkey,
            tls,
        )


def _pem_file(folder: str, name: str, pem: str) -> str:
    """Write PEM material readable by this process only; the folder is removed after the turn."""
    path = os.path.join(folder, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(pem)
    return path


def _reload_targets(config: AppReloadConfig) -> list[str]:
    if config.backend == "cloud":
        return list(config.apps)
    return [f"app:{a}" for a in config.apps] + [f"task:{t}" for t in config.tasks]


def make_app_reload(options: QlikOptions | None = None) -> StepKind[AppReloadConfig]:
    """Build the `ms-qlik-app-reload` step kind (tests pass tiny sleeps)."""
    opts = options or QlikOptions()

    def handler(ctx: StepContext, config: AppReloadConfig) -> dict[str, Any] | Wait:
        timeout = config.request_timeout_seconds
        backend: JobBackend
        if config.backend == "cloud":
            assert config.tenant_url is not None  # checked by the config model
            with cloud_api(ctx, config.tenant_url, timeout, opts) as api:
                backend = CloudReloads(api, config.partial, config.variables)
                follow = _follow(config, "reload", "Qlik Cloud", config.sequential)
                return run_turn(ctx, backend, _reload_targets(config), follow)
        assert config.qrs is not None
        with qrs_api(ctx, config.qrs, timeout, opts) as api:
            follow = _follow(config, "task execution", "Qlik Sense QRS", config.sequential)
            return run_turn(ctx, QrsReloads(api), _reload_targets(config), follow)

    return StepKind(
        "ms-qlik-app-reload",
        AppReloadConfig,
        handler,
        "Reload Qlik apps (Qlik Cloud or Qlik Sense QRS) and follow each reload to its end",
    )


def make_automation(options: QlikOptions | None = None) -> StepKind[AutomationConfig]:
    """Build the `ms-qlik-automation` step kind."""
    opts = options or QlikOptions()

    def handler(ctx: StepContext, config: AutomationConfig) -> dict[str, Any] | Wait:
        triggered = config.mode == "triggered"
        timeout = config.request_timeout_seconds
        with cloud_api(ctx, config.tenant_url, timeout, opts, triggered) as api:
            if triggered:
                return run_triggered(ctx, api, config)
            backend = CloudAutomation(api, config.fail_on_warnings)
            follow = _follow(config, "automation run", "Qlik Cloud")
            result = run_turn(ctx, backend, [config.automation_id], follow)
        if isinstance(result, Wait):
            return result
        run = result["jobs"][0]
        return {
            "automation_id": config.automation_id,
            "run_id": run["id"],
            "status": run["status"],
            "run": run,
            "turns": result["turns"],
            "waited_seconds": result["waited_seconds"],
        }

    return StepKind(
        "ms-qlik-automation",
        AutomationConfig,
        handler,
        "Run a Qlik automation with inputs, follow it to its end and capture its result",
    )


APP_RELOAD: StepKind[AppReloadConfig] = make_app_reload()
AUTOMATION: StepKind[AutomationConfig] = make_automation()
