"""GcsRunStore on the real storage client over a scripted wire: 412, 429, 503, 403, pages."""

from __future__ import annotations

import pytest

from mhi.adapters.gcp.gcs_blob_store import GcsBlobStore
from mhi.adapters.gcp.gcs_run_store import WRITER_KEY, GcsRunStore
from mhi.errors import AuthError, PermanentError, UpstreamUnavailableError
from tests.unit.adapters.gcs_fake_http import FAST_RETRY, FakeGcs, FakeHttp, client, error


def _store(server: FakeGcs, retry=FAST_RETRY) -> tuple[GcsRunStore, FakeHttp]:
    http = FakeHttp(server)
    return GcsRunStore(client(http), "runs", retry=retry, timeout=5.0), http


def test_create_is_conditional_and_reports_first_writer_only() -> None:
    server = FakeGcs()
    store, http = _store(server)
    assert store.create("runs/a/f/r/flow.json", b'{"v":1}') is True
    assert store.create("runs/a/f/r/flow.json", b'{"v":2}') is False
    assert server.objects["runs/a/f/r/flow.json"][0] == b'{"v":1}'
    uploads = [u for m, u in http.calls if m == "POST"]
    assert uploads and all("ifGenerationMatch=0" in u for u in uploads)


def test_precondition_failed_after_a_lost_response_is_our_own_create() -> None:
    server = FakeGcs(lost_upload=True)  # stored, but the client sees 503 and retries -> 412
    store, http = _store(server)
    assert store.create("runs/a/f/r/done.json", b"{}") is True
    assert http.count("POST", "/upload/") == 2
    assert WRITER_KEY in server.objects["runs/a/f/r/done.json"][1]


def test_precondition_failed_for_another_writer_is_false() -> None:
    server = FakeGcs(objects={"k/x.json": (b"theirs", {WRITER_KEY: "someone-else"})})
    store, _ = _store(server)
    assert store.create("k/x.json", b"mine") is False
    assert server.objects["k/x.json"][0] == b"theirs"


@pytest.mark.parametrize("code", [429, 503])
def test_transient_errors_are_retried_by_the_library_policy(code: int) -> None:
    server = FakeGcs(failures={"upload": [error(code), error(code)], "download": [error(code)]})
    store, http = _store(server)
    assert store.create("k/a.json", b"1") is True
    assert http.count("POST", "/upload/") == 3
    assert store.read("k/a.json") == b"1"


def test_transient_errors_past_the_retry_deadline_are_upstream_unavailable() -> None:
    server = FakeGcs(failures={"upload": [error(503)] * 10_000})
    store, _ = _store(server, FAST_RETRY.with_timeout(0.1))
    with pytest.raises(UpstreamUnavailableError, match=r"create gs://runs/k/a.json"):
        store.create("k/a.json", b"1")


def test_read_missing_is_none_and_delete_missing_is_silent() -> None:
    store, _ = _store(FakeGcs())
    assert store.read("runs/none.json") is None
    store.delete("active/a/f/r")


def test_list_is_sorted_and_follows_pages() -> None:
    names = [f"runs/a/f/r/steps/s{i}/1/result.json" for i in (3, 1, 4, 0, 2)]
    server = FakeGcs(objects={n: (b"{}", {}) for n in [*names, "runs/b/other.json"]})
    store, http = _store(server)
    assert store.list("runs/a/") == sorted(names)
    assert http.count("GET", "/o?") == 3  # five names, pages of two


def test_forbidden_is_an_auth_error_and_missing_bucket_is_permanent() -> None:
    store, _ = _store(FakeGcs(failures={"list": [error(403, "denied")], "upload": [error(404)]}))
    with pytest.raises(AuthError, match="access denied"):
        store.list("runs/")
    with pytest.raises(PermanentError, match="bucket not found"):
        store.create("k/b.json", b"1")


def test_invalid_keys_never_reach_the_wire() -> None:
    store, http = _store(FakeGcs())
    with pytest.raises(PermanentError, match="invalid store key"):
        store.create("../escape", b"1")
    assert http.calls == []


def test_blob_store_overwrites_and_returns_gs_uris(tmp_path) -> None:
    server = FakeGcs(failures={"upload": [error(503)]})
    blobs = GcsBlobStore(client(FakeHttp(server)), "raw", retry=FAST_RETRY)
    assert blobs.write_bytes("raw/acme/x.json", b"1") == "gs://raw/raw/acme/x.json"
    assert blobs.write_bytes("raw/acme/x.json", b"2") == "gs://raw/raw/acme/x.json"
    local = tmp_path / "f.csv"
    local.write_bytes(b"a,b\n1,2\n")
    assert blobs.upload_file("raw/acme/f.csv", str(local), "text/csv") == "gs://raw/raw/acme/f.csv"
    assert blobs.read_bytes("raw/acme/x.json") == b"2"
    assert blobs.read_bytes("raw/acme/f.csv") == b"a,b\n1,2\n"
    assert blobs.list("raw/acme/") == ["raw/acme/f.csv", "raw/acme/x.json"]
    blobs.delete("raw/acme/x.json")
    assert blobs.read_bytes("raw/acme/x.json") is None
