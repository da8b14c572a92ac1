"""A report mailed through Mailgun carries its charts as `inline` parts of a multipart request,
named in the HTML as `cid:<filename>` (Gmail blocks data: URIs); the local outbox keeps them as
MIME related parts. Both against the report page as ms-kpi-engine writes it."""

from __future__ import annotations

import base64
import email
import email.policy
from email.message import EmailMessage

from mhi.model.messages import CallbackStatus
from mhi.steps.sdk import StepKind
from tests.fakes.qlik_notify import FakeMailgun
from tests.fakes.qlik_notify.harness import ACCOUNT, Harness
from tests.unit.notify._values import DOMAIN

# PNG bytes with CR, LF and NUL in them: a multipart body must carry them unchanged
CHARTS = (b"\x89PNG\r\n\x1a\n\x00occupancy\r\n\r\n--", b"\x89PNG\r\n\x1a\n\x00adr\n\r")
REPORT = f"reports/{ACCOUNT}/daily-avalon-extract/run-1/kpis/kpi-report.html"


def _page() -> str:
    imgs = "".join(
        f"<div><img alt='chart {i}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
        "</div>"
        for i, png in enumerate(CHARTS)
    )
    table = "<table><tr><th>KPI</th><th>Aug 2017</th></tr><tr><td>ADR</td><td>EUR 134.70</td></tr>"
    return (
        "<html><head><title>KPI report</title><style>td{color:red}</style></head><body>"
        f"<h1>KPI report</h1><p>Occupancy 81.2 %</p>{table}</table>{imgs}</body></html>"
    )


def _run(harness: Harness, kind: StepKind, **config: object) -> None:
    harness.services.blobs.write_bytes(REPORT, _page().encode(), "text/html")
    full = {"type": "email", "recipients": "revenue@example.com", "report": REPORT, **config}
    cb = harness.run(kind, harness.message("ms-notifications", full))
    assert cb.status == CallbackStatus.SUCCEEDED, cb.error
    assert cb.output["sent"] == 1, cb.output


def test_mailgun_gets_the_charts_as_inline_parts(
    mailgun: FakeMailgun, harness: Harness, kind: StepKind
) -> None:
    _run(harness, kind, mailgun_domain=DOMAIN)
    [request] = [r for r in mailgun.requests if r.method == "POST"]
    assert request.is_multipart()
    [form] = mailgun.messages
    html = form["html"][0]
    assert "data:" not in html
    assert "src='cid:chart1.png'" in html and "src='cid:chart2.png'" in html
    assert mailgun.inline == [
        {"chart1.png": ("image/png", CHARTS[0]), "chart2.png": ("image/png", CHARTS[1])}
    ]
    assert form["to"] == ["revenue@example.com"]
    # the text part reads on its own: no head or style, one line per table row, charts named
    assert form["text"][0] == (
        "KPI report\nOccupancy 81.2 %\nKPI | Aug 2017\nADR | EUR 134.70\n[chart 0]\n[chart 1]\n"
    )
    assert form["o:tag"] == ["mhi"]


def test_a_mail_without_charts_stays_a_plain_form(
    mailgun: FakeMailgun, harness: Harness, kind: StepKind
) -> None:
    cb = harness.run(
        kind,
        harness.message(
            "ms-notifications",
            {"type": "email", "recipients": "a@example.com", "mailgun_domain": DOMAIN},
        ),
    )
    assert cb.status == CallbackStatus.SUCCEEDED, cb.error
    [request] = [r for r in mailgun.requests if r.method == "POST"]
    assert request.header("Content-Type") == "application/x-www-form-urlencoded"
    assert mailgun.inline == [{}]


def test_the_outbox_keeps_charts_as_related_parts(harness: Harness, kind: StepKind) -> None:
    _run(harness, kind, email_transport="outbox")
    key = f"outbox/{ACCOUNT}/daily-avalon-extract/run-1/step/revenue@example.com.eml"
    raw = harness.services.blobs.read_bytes(key)
    assert raw is not None
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(mail, EmailMessage)
    body = mail.get_body(("html",))
    assert body is not None and "data:" not in body.get_content()
    related = {p["Content-ID"]: p.get_content() for p in mail.walk() if p["Content-ID"]}
    assert related == {"<chart1@mhi.local>": CHARTS[0], "<chart2@mhi.local>": CHARTS[1]}
