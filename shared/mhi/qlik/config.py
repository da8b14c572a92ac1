"""Config models of the Qlik steps (validated before anything is called).

Where the calls go is checked here too: `tenant_url` must pass the URL policy and be a Qlik
Cloud host (`*.qlikcloud.com`; the deployment setting `MHI_QLIK_CLOUD_HOSTS` replaces the
pattern); the QRS server's address is not a flow's choice at all (secret `qlik-qrs-base-url`).
Automation inputs are sent only to a triggered automation: Qlik's `POST .../runs` body takes
`context` only (`qlik-oss/qlik-api-ts`, `automations.d.ts`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from mhi.http.policy import valid_url
from mhi.qlik.client import cloud_scope

QRS_URL_SECRET = "qlik-qrs-base-url"
QRS_URL_SETTING = "MHI_QLIK_QRS_BASE_URL"


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


StrList = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=200)]], BeforeValidator(_as_list)
]


class WaitOptions(BaseModel):
    """How a long job is followed: poll interval growth and the overall deadline."""

    model_config = ConfigDict(extra="forbid")

    max_wait_seconds: int = Field(
        default=3600,
        ge=10,
        le=7 * 86400,
        description="give up (and cancel what this step started) after this long",
    )
    poll_seconds: float = Field(default=15.0, ge=1, le=3600, description="first poll interval")
    max_poll_seconds: float = Field(
        default=300.0, ge=1, le=3600, description="poll interval ceiling (it grows by 1.5x)"
    )
    cancel_on_deadline: bool = Field(
        default=True, description="cancel reloads this step started when the deadline passes"
    )
    request_timeout_seconds: float = Field(
        default=20.0, ge=0.1, le=120, description="timeout of each HTTP request to Qlik"
    )


class QrsOptions(BaseModel):
    """Qlik Sense Enterprise on Windows (QRS API) connection. The server's address
    (`https://server:4242` direct, or `https://server/<prefix>` through a virtual proxy; `/qrs`
    is appended) is the account's secret `qlik-qrs-base-url` or the setting
    `MHI_QLIK_QRS_BASE_URL`, never the flow's."""

    model_config = ConfigDict(extra="forbid")

    auth: Literal["certificate", "jwt", "header"] = Field(
        default="certificate",
        description="certificate: secrets qlik-client-cert + qlik-client-key (PEM); jwt: secret "
        "qlik-api-key as Bearer token; header: X-Qlik-User only (header-auth virtual proxy)",
    )
    user_directory: str = Field(
        default="INTERNAL",
        pattern=r"^[^;=]{1,100}$",
        description="user directory of the X-Qlik-User the calls run as",
    )
    user_id: str = Field(
        default="sa_repository",
        pattern=r"^[^;=]{1,100}$",
        description="user id of the X-Qlik-User the calls run as",
    )
    verify_tls: bool = Field(default=True, description="verify the server's TLS certificate")
    use_ca_secret: bool = Field(
        default=False, description="verify against the CA in secret qlik-ca-cert (self-signed)"
    )
    server_url: SkipJsonSchema[Any] = Field(default=None, exclude=True)

    @field_validator("server_url")
    @classmethod
    def _moved(cls, value: Any) -> None:
        if value is not None:
            raise ValueError(
                "server_url is not read from a flow (a flow may not choose where the account's "
                f"Qlik credentials go): set the account's secret {QRS_URL_SECRET!r} or the "
                f"deployment setting {QRS_URL_SETTING}, and remove server_url from qrs"
            )
        return None


class AppReloadConfig(WaitOptions):
    """Reload Qlik apps (Qlik Cloud or Qlik Sense Enterprise QRS) and follow them to the end."""

    backend: Literal["cloud", "qrs"] = Field(
        default="cloud",
        description="cloud: Qlik Cloud (tenant_url, apps); qrs: Qlik Sense Enterprise on Windows "
        "(qrs, apps or tasks)",
    )
    tenant_url: str | None = Field(
        default=None,
        description="Qlik Cloud tenant, e.g. https://acme.eu.qlikcloud.com (a *.qlikcloud.com "
        "host: the API key goes nowhere else; MHI_QLIK_CLOUD_HOSTS changes that list)",
    )
    qrs: QrsOptions | None = Field(
        default=None, description="QRS connection options (backend qrs; defaults apply)"
    )
    apps: StrList = Field(
        default_factory=list, description="app ids (Cloud: reloads; QRS: the app's reload task)"
    )
    tasks: StrList = Field(default_factory=list, description="QRS reload task ids or names")
    partial: bool = Field(
        default=False, description="partial reload (Qlik Cloud): keep the data already loaded"
    )
    variables: dict[str, str] = Field(
        default_factory=dict, description="Qlik Cloud script variables (name -> value)"
    )
    sequential: bool = Field(
        default=False, description="reload one app after the other, stopping at a failure"
    )

    @field_validator("tenant_url")
    @classmethod
    def _tenant(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else valid_url(value, "tenant_url", info.context, cloud_scope)

    @model_validator(mode="after")
    def _targets(self) -> AppReloadConfig:
        if self.backend == "cloud":
            self._check_cloud()
        else:
            self._check_qrs()
        names = self.apps + self.tasks
        if len(set(names)) != len(names):
            raise ValueError("apps/tasks: the same app or task is listed twice")
        if len(names) > 50:
            raise ValueError("at most 50 apps/tasks per step (use for_each for more)")
        return self

    def _check_cloud(self) -> None:
        if not self.tenant_url:
            raise ValueError("tenant_url is required for backend 'cloud'")
        if self.tasks or self.qrs:
            raise ValueError("tasks and qrs are for backend 'qrs'")
        if not self.apps:
            raise ValueError("apps: name at least one app id")

    def _check_qrs(self) -> None:
        if self.tenant_url:
            raise ValueError("tenant_url is for backend 'cloud'")
        if self.qrs is None:
            self.qrs = QrsOptions()
        if self.variables or self.partial:
            raise ValueError("variables and partial are Qlik Cloud options")
        if not (self.apps or self.tasks):
            raise ValueError("name at least one app id (apps) or reload task (tasks)")


class AutomationConfig(WaitOptions):
    """Run a Qlik Cloud automation and capture its result. Inputs go only to a triggered
    automation (mode "triggered"): Qlik's runs endpoint takes none."""

    tenant_url: str = Field(
        description="Qlik Cloud tenant, e.g. https://acme.eu.qlikcloud.com (a *.qlikcloud.com "
        "host: the API key goes nowhere else; MHI_QLIK_CLOUD_HOSTS changes that list)"
    )
    automation_id: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="id of the automation to run",
    )
    mode: Literal["run", "triggered"] = Field(
        default="run",
        description="run: POST /automations/{id}/runs (body: context only, no inputs) and "
        "follow the run; triggered: call the automation's trigger URL with secret "
        "qlik-automation-token, sending inputs, and return its answer",
    )
    inputs: dict[str, Any] = Field(
        default_factory=dict, description="automation inputs (mode triggered only)"
    )
    fail_on_warnings: bool = Field(
        default=False, description="treat 'finished with warnings' as a failure"
    )

    @field_validator("tenant_url")
    @classmethod
    def _tenant(cls, value: str, info: ValidationInfo) -> str:
        return valid_url(value, "tenant_url", info.context, cloud_scope)

    @model_validator(mode="after")
    def _inputs_only_when_triggered(self) -> AutomationConfig:
        if self.inputs and self.mode != "triggered":
            raise ValueError(
                f"inputs are not sent in mode {self.mode!r}: Qlik's POST "
                '/api/v1/automations/{id}/runs takes no inputs; use mode "triggered" '
                "(the automation's trigger URL receives them) or remove inputs"
            )
        return self
