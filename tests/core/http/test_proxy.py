"""Proxy selection from a snapshot of the environment, and redaction of credentials."""

from __future__ import annotations

import pytest

from aichats_core.http import ProxySettings, redact
from aichats_core.http._proxy import proxy_problem

PROXY = "http://proxy.example:3128"


def settings(no_proxy: str) -> ProxySettings:
    return ProxySettings({"http": PROXY, "https": PROXY, "no": no_proxy})


@pytest.mark.parametrize(
    ("no_proxy", "url"),
    [
        ("*", "http://anything.example/"),
        ("example.com", "http://example.com/x"),
        ("example.com", "http://api.example.com/x"),
        (".example.com", "http://example.com/x"),
        (".example.com", "https://a.b.example.com/x"),
        ("EXAMPLE.com.", "http://example.com./x"),
        (" other.org , example.com ", "http://example.com/"),
        ("example.com:8080", "http://example.com:8080/"),
        ("example.com:80", "http://example.com/"),  # the scheme's default port
        ("example.com:443", "https://example.com/"),
        ("127.0.0.1", "http://127.0.0.1:8765/"),
        ("10.0.0.0/8", "http://10.20.30.40/"),
        ("::1", "http://[::1]:8765/"),
        ("[::1]", "http://[::1]:8765/"),
        ("[::1]:8765", "http://[::1]:8765/"),
        ("0:0:0:0:0:0:0:1", "http://[::1]/"),
        ("fd00::/8", "http://[fd12::5]/"),
        ("localhost", "http://127.0.0.1:8765/"),  # the local machine, by either name
        ("localhost", "http://[::1]:8765/"),
        ("127.0.0.1", "http://localhost:8765/"),
    ],
)
def test_no_proxy_bypasses(no_proxy: str, url: str) -> None:
    assert settings(no_proxy).proxy_for(url) is None


@pytest.mark.parametrize(
    ("no_proxy", "url"),
    [
        ("", "http://example.com/"),
        ("example.com", "http://notexample.com/"),
        ("example.com", "http://example.com.evil.org/"),
        ("example.com:8080", "http://example.com/"),
        ("[::1]:8080", "http://[::1]:8765/"),
        ("127.0.0.1", "http://127.0.0.2/"),
        ("10.0.0.0/8", "http://11.0.0.1/"),
        ("10.0.0.0/8", "http://[::ffff:1]/"),
        ("not-a-network/8", "http://10.0.0.1/"),
        ("localhost", "http://10.0.0.1/"),
        ("10.0.0.1", "http://example.com/"),
    ],
)
def test_no_proxy_leaves_other_hosts_proxied(no_proxy: str, url: str) -> None:
    assert settings(no_proxy).proxy_for(url) == PROXY


def test_the_scheme_picks_the_proxy_and_the_option_wins() -> None:
    snapshot = ProxySettings({"https": PROXY, "no": "*"})
    assert snapshot.proxy_for("http://example.com/") is None
    assert ProxySettings({}).proxy_for("http://example.com/") is None


def test_the_snapshot_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", PROXY)
    monkeypatch.setenv("NO_PROXY", "internal.example")
    snapshot = ProxySettings.from_environment()
    assert snapshot.proxy_for("http://example.com/") == PROXY
    assert snapshot.proxy_for("http://internal.example/") is None


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("http://user:s3cret@proxy:3128", "http://***@proxy:3128"),
        ("https://token@host/path?a=b", "https://***@host/path?a=b"),
        ("http://user:p@ss@proxy:3128/x", "http://***@proxy:3128/x"),
        ("user:s3cret@proxy:3128", "***@proxy:3128"),
        ("proxy 'user:s3cret@proxy:3128' failed", "proxy '***@proxy:3128' failed"),
        ("failed: http://a:b@h1 and http://c:d@h2", "failed: http://***@h1 and http://***@h2"),
        ("write to someone@example.com", "write to someone@example.com"),
        ("http://host/path/user@x", "http://host/path/user@x"),
    ],
)
def test_redact_hides_credentials(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_the_snapshot_repr_hides_credentials() -> None:
    snapshot = ProxySettings({"http": "http://user:s3cret@proxy:3128"})
    assert repr(snapshot) == "ProxySettings(proxies={'http': 'http://***@proxy:3128'})"


@pytest.mark.parametrize(
    ("proxy", "problem"),
    [
        ("http://proxy:3128", None),
        ("https://user:pw@proxy:3128", None),
        ("proxy:3128", "is not a URL such as http://host:3128"),
        ("socks5://proxy:1080", "has the scheme 'socks5', which aiohttp cannot use"),
        ("http://proxy:70000", "is not a valid URL"),
        ("http://[::1", "is not a valid URL"),
        ("http://", "names no host"),
    ],
)
def test_unusable_proxies_are_named_without_quoting_them(proxy: str, problem: str | None) -> None:
    found = proxy_problem(proxy)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert found.startswith(problem)
        assert "pw" not in found
