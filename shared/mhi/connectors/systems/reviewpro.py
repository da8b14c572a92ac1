"""ReviewPro (Shiji): lodgings, daily review index (GRI), review summaries, survey responses.

Aligned with ReviewPro's published client (`reviewpro/api_connect`, `connect_py/Connect.py`):
`GET /v1/account/lodgings`, `GET /v1/lodging/index/daily?pid&fd&td&rt` and
`GET /v1/lodging/review/summaries?pid&fd&td&rw&st` (offset paging by `st`/`rw`), host
`connect.reviewpro.com`. [DOC] `api_key` plus `sig = sha256(key + secret + unix seconds)` in the
query (±5 minutes of drift allowed); no modified-since filter, so each run re-reads a trailing
30 days of `fd`/`td`.

UNCONFIRMED:
- response shapes: the published client returns whatever JSON comes back and no public page
  shows it, so every dataset accepts a bare array or an object holding exactly one array, and
  fails loudly on anything else;
- `sig` on read calls: the published client signs only pushes; the developer docs allow it;
- `survey_responses` (`/v3/surveys/{id}/responses`, `offset` in steps of 100 up to `total`)
  appears in a third-party integration only, not in ReviewPro's client: read only when a flow
  names it.

Host: `connect.reviewpro.com` only; the operator may move it with the secret
`reviewpro-base-url` or `MHI_REVIEWPRO_BASE_URL`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, ClassVar

from pydantic import Field

from mhi.connectors.auth import Auth, SignedQuery
from mhi.connectors.extract import make_kind
from mhi.connectors.paging import OffsetLimit, Single
from mhi.connectors.spec import (
    Credentials,
    Dataset,
    DateWindow,
    Endpoints,
    ExtractConfig,
    Lister,
    System,
)

SURVEYS_UNCONFIRMED = (
    "/v3/surveys/{id}/responses is not in ReviewPro's published client (seen in a third-party "
    "integration only): its path, paging and shape are unconfirmed"
)


class ReviewProConfig(ExtractConfig):
    """Options of `ms-extractor-reviewpro`. UNCONFIRMED: response shapes (a bare array or a
    one-array envelope is accepted); survey_responses is opt-in (not in ReviewPro's client)."""

    system_name: ClassVar[str] = "reviewpro"
    pids: list[int] = Field(default_factory=list, description="lodging ids (pid) to read")
    survey_ids: list[str] = Field(
        default_factory=list,
        description="for survey_responses (UNCONFIRMED endpoint: read only when named)",
    )
    rating_type: str = Field("OVERALL", pattern=r"^[A-Z_]{2,30}$", description="daily index rt")


def dates(lo: date, hi: date) -> dict[str, Any]:
    """Return `fd`/`td` (yyyy-MM-dd, inclusive)."""
    return {"fd": lo.isoformat(), "td": hi.isoformat()}


TRAILING = DateWindow(dates, lookback=timedelta(days=30))


def _per_lodging(config: ReviewProConfig, lister: Lister) -> list[dict[str, Any]]:
    return [{"pid": pid} for pid in config.pids]


def _per_survey(config: ReviewProConfig, lister: Lister) -> list[dict[str, Any]]:
    return [{"pid": p, "survey_id": s} for p in config.pids for s in config.survey_ids]


def _daily(config: ReviewProConfig, lister: Lister) -> list[dict[str, Any]]:
    return [{"pid": pid, "rt": config.rating_type} for pid in config.pids]


def auth(creds: Credentials, config: ReviewProConfig, endpoints: Endpoints) -> Auth:
    """Key plus signature in the query string."""
    return SignedQuery(
        creds.get("api-key"),
        creds.get("api-secret"),
        (creds.name("api-key"), creds.name("api-secret")),
    )


SYSTEM = System(
    name="reviewpro",
    config_model=ReviewProConfig,
    datasets=(
        Dataset(
            "lodgings",
            "/v1/account/lodgings",
            key=("pid",),
            paging=Single(flexible=True),
            required=("name",),
        ),
        Dataset(
            "daily_index",
            "/v1/lodging/index/daily",
            key=("pid", "rt", "date"),
            paging=Single(flexible=True),
            incremental=TRAILING,
            required=("gri",),
            partitions=_daily,
            summary="Global Review Index per lodging and day",
        ),
        Dataset(
            "reviews",
            "/v1/lodging/review/summaries",
            key=("pid", "id"),
            paging=OffsetLimit(
                records_key=None, offset_param="st", limit_param="rw", flexible=True
            ),
            incremental=TRAILING,
            required=("rating", "publishedDate", "source"),
            partitions=_per_lodging,
            summary="review summaries: source, rating, date, language, responded",
        ),
        Dataset(
            "survey_responses",
            "/v3/surveys/{survey_id}/responses",
            key=("survey_id", "id"),
            paging=OffsetLimit(
                records_key="responses",
                limit_param=None,
                fixed_step=100,
                total_key="total",
                flexible=True,
            ),
            incremental=TRAILING,
            required=("date", "customScore"),
            partitions=_per_survey,
            summary="guest survey responses with scores and answers (UNCONFIRMED, opt-in)",
            unconfirmed=SURVEYS_UNCONFIRMED,
        ),
    ),
    auth=auth,
    api_hosts=("connect.reviewpro.com",),
    default_base=lambda c: "https://connect.reviewpro.com",
    requests_per_second=2.0,  # unpublished: stay gentle
    page_size=100,
    history_days=365,
    summary="ReviewPro: reviews and review scores",
)

KIND = make_kind(SYSTEM)
