"""The URL policy: host normalisation, address classes, host scopes, resolution."""

from __future__ import annotations

import ipaddress

import pytest

from mhi.config import Settings
from mhi.http import HostScope, UrlPolicy, UrlRefusedError
from mhi.http.addresses import HostError, address_kind, normalise_host
from mhi.http.policy import valid_url, validation_settings
from tests.unit.http.forms import HOSTILE


@pytest.mark.parametrize(
    ("host", "canonical"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0177.0.0.01", "127.0.0.1"),
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("2852039166", "169.254.169.254"),
        ("10.1", "10.0.0.1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("[0:0:0:0:0:0:0:1]", "::1"),
        ("LOCALHOST.", "localhost"),
        ("ｌｏｃａｌｈｏｓｔ", "localhost"),
        ("①②⑦.0.0.1", "127.0.0.1"),
        ("127。0。0。1", "127.0.0.1"),
        ("Api.Holded.COM..", "api.holded.com"),
        ("bücher.example", "xn--bcher-kva.example"),
    ],
)
def test_every_spelling_of_a_host_has_one_canonical_form(host: str, canonical: str) -> None:
    assert normalise_host(host) == canonical


@pytest.mark.parametrize(
    "host", ["256.1.1.1", "1.2.3.4.5", "08.1.1.1", "0x1ffffffff", "a..b", "-a.com", "", "..."]
)
def test_hosts_no_url_should_carry_are_refused(host: str) -> None:
    with pytest.raises(HostError):
        normalise_host(host)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("64:ff9b::7f00:1", "loopback"),
        ("2002:7f00:1::", "loopback"),
        ("::127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.1.1", "multicast"),
        ("10.2.3.4", "private"),
        ("fc00::1", "private"),
        ("100.64.0.1", "not globally routable"),
        ("8.8.8.8", "public"),
        ("2001:4860:4860::8888", "public"),
    ],
)
def test_address_classes_look_through_embedded_ipv4(address: str, kind: str) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("url", HOSTILE)
def test_every_hostile_form_is_refused_without_dns(url: str) -> None:
    def no_dns(host: str, port: int) -> list[str]:
        raise AssertionError("the static check must not resolve")

    with pytest.raises(UrlRefusedError) as e:
        UrlPolicy(resolver=no_dns).check(url, "webhook_url")
    assert str(e.value).startswith("webhook_url: ")
    assert "pw" not in str(e.value) and "meta-data" not in str(e.value)


def test_loopback_is_allowed_only_when_the_deployment_says_so() -> None:
    strict, tests = UrlPolicy(), UrlPolicy(allow_loopback=True)
    for url in ("http://127.0.0.1:8080/x", "https://2130706433/", "http://localhost/y"):
        with pytest.raises(UrlRefusedError, match=r"loopback"):
            strict.check(url, "u")
        assert tests.check(url, "u").port in (8080, 443, 80)
    for url in ("https://10.0.0.1/", "https://169.254.169.254/", "https://0.0.0.0/"):
        with pytest.raises(UrlRefusedError):
            tests.check(url, "u")  # loopback only, nothing else
    with pytest.raises(UrlRefusedError, match="plain http"):
        tests.check("http://api.example.com/", "u")


def test_private_ranges_are_reachable_only_when_listed() -> None:
    settings = Settings(private_networks=("10.20.0.0/16",))
    policy = UrlPolicy.from_settings(settings)
    assert policy.check("https://10.20.3.4:4242/", "qrs").host == "10.20.3.4"
    with pytest.raises(UrlRefusedError, match="MHI_PRIVATE_NETWORKS"):
        policy.check("https://10.21.0.1/", "qrs")
    with pytest.raises(UrlRefusedError, match="link-local"):
        UrlPolicy.from_settings(Settings(private_networks=("169.254.0.0/16",))).check(
            "https://169.254.169.254/", "qrs"
        )


def test_names_resolving_to_a_forbidden_address_are_refused() -> None:
    answers = {
        "rebind.example.com": ["93.184.216.34", "127.0.0.1"],
        "internal.example.com": ["10.0.0.9"],
        "meta.example.com": ["169.254.169.254"],
        "v6.example.com": ["::ffff:10.0.0.1"],
        "ok.example.com": ["2606:2800:220:1::1", "93.184.216.34"],
    }
    policy = UrlPolicy(resolver=lambda host, port: answers[host])
    for name in list(answers)[:-1]:
        target = policy.check(f"https://{name}/x", "webhook_url")  # passes without DNS
        with pytest.raises(UrlRefusedError, match=f"{name} resolves to"):
            policy.resolve(target, "webhook_url")
    ok = policy.resolve(policy.check("https://ok.example.com/", "w"), "w")
    assert ok == ipaddress.ip_address("93.184.216.34")  # IPv4 first


def test_host_scopes_match_names_and_suffixes_only() -> None:
    scope = HostScope.of("qlik-cloud", ["*.qlikcloud.com", "API.Holded.com."])
    assert scope.allows("acme.eu.qlikcloud.com") and scope.allows("api.holded.com")
    for host in ("qlikcloud.com", "evilqlikcloud.com", "qlikcloud.com.evil.io", "holded.com"):
        assert not scope.allows(host)
    policy = UrlPolicy()
    with pytest.raises(UrlRefusedError, match="not one of qlik-cloud's API hosts"):
        policy.check("https://acme.qlikcloud.com.evil.io/", "tenant_url", scope)
    wider = scope.plus(["https://qlik-proxy.example.com:8443/api"])
    assert wider.allows("qlik-proxy.example.com")


def test_validation_reads_the_context_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValueError, match="loopback"):
        valid_url("http://127.0.0.1:9/x", "webhook_url")
    allowed = {"settings": Settings(allow_loopback_urls=True)}
    assert valid_url("http://127.0.0.1:9/x/", "webhook_url", allowed) == "http://127.0.0.1:9/x"
    monkeypatch.setenv("MHI_ALLOW_LOOPBACK_URLS", "1")
    assert validation_settings().allow_loopback_urls
    assert valid_url("http://localhost:9/", "webhook_url") == "http://localhost:9"


def test_the_settings_are_read_and_checked() -> None:
    env = {"MHI_ALLOW_LOOPBACK_URLS": "true", "MHI_PRIVATE_NETWORKS": "10.0.0.0/8, fd00::/8"}
    settings = Settings.from_env(env)
    assert settings.allow_loopback_urls and settings.private_networks == ("10.0.0.0/8", "fd00::/8")
    with pytest.raises(ValueError, match="MHI_ALLOW_LOOPBACK_URLS"):
        Settings.from_env({"MHI_ALLOW_LOOPBACK_URLS": "maybe"})
    with pytest.raises(ValueError, match="MHI_PRIVATE_NETWORKS"):
        Settings.from_env({"MHI_PRIVATE_NETWORKS": "10.0.0.0/33"})
