"""ReviewPro (Shiji): lodgings, daily review index (GRI), review summaries, survey responses.

[DOC] `api_key` plus `sig = sha256(key + secret + unix seconds)` in the query (±5 minutes of
drift allowed); no modified-since filter, so each run re-reads a trailing 30 days of `fd`/`td`.
Survey responses page by `offset` in steps of 100 up to `total`; review summaries by `st`/`rw`.
ASSUMPTION: the record shapes of the daily index and the review summaries (bare arrays).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from pydantic import Field

from mhi.connectors.auth import Auth, SignedQuery
from mhi.connectors.extract import make_kind
from mhi.connectors.paging import OffsetLimit, Single
from mhi.connectors.spec import Credentials, Dataset, DateWindow, ExtractConfig, System


class ReviewProConfig(ExtractConfig):
    """Options of `ms-extractor-reviewpro`."""

    pids: list[int] = Field(default_factory=list, description="lodging ids (pid) to read")
    survey_ids: list[str] = Field(default_factory=list, description="for survey_responses")
    rating_type: str = Field("OVERALL", pattern=r"^[A-Z_]{2,30}$", description="daily index rt")


def dates(lo: date, hi: date) -> dict[str, Any]:
    """Return `fd`/`td` (yyyy-MM-dd, inclusive)."""
    return {"fd": lo.isoformat(), "td": hi.isoformat()}


TRAILING = DateWindow(dates, lookback=timedelta(days=30))


def _per_lodging(config: ReviewProConfig) -> list[dict[str, Any]]:
    return [{"pid": pid} for pid in config.pids]


def _per_survey(config: ReviewProConfig) -> list[dict[str, Any]]:
    return [{"pid": p, "survey_id": s} for p in config.pids for s in config.survey_ids]


def _daily(config: ReviewProConfig) -> list[dict[str, Any]]:
    return [{"pid": pid, "rt": config.rating_type} for pid in config.pids]


def auth(creds: Credentials, config: ReviewProConfig, base: str) -> Auth:
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
            "lodgings", "/v1/account/lodgings", key=("pid",), paging=Single(), required=("name",)
        ),
        Dataset(
            "daily_index",
            "/v1/lodging/index/daily",
            key=("pid", "rt", "date"),
            paging=Single(),
            incremental=TRAILING,
            required=("gri",),
            partitions=_daily,
            summary="Global Review Index per lodging and day",
        ),
        Dataset(
            "reviews",
            "/v1/lodging/review/summaries",
            key=("pid", "id"),
            paging=OffsetLimit(records_key=None, offset_param="st", limit_param="rw"),
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
                records_key="responses", limit_param=None, fixed_step=100, total_key="total"
            ),
            incremental=TRAILING,
            required=("date", "customScore"),
            partitions=_per_survey,
            summary="guest survey responses with scores and answers",
        ),
    ),
    auth=auth,
    base_url=lambda c: "https://connect.reviewpro.com",
    requests_per_second=2.0,  # unpublished: stay gentle
    page_size=100,
    history_days=365,
    summary="ReviewPro: reviews and review scores",
)

KIND = make_kind(SYSTEM)
