"""g4f's request helpers over aiohttp: error statuses, proxies, server-sent events.

Each imports aiohttp (through ``aichats_core.http``) when called, not when imported.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from aichats_core.errors import InvalidRequestError

if TYPE_CHECKING:
    import aiohttp

DEFAULT_HEADERS: dict[str, str] = {
    "accept": "*/*",
    "accept-language": "en-US,en;q=0.9",
    "user-agent": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
        " Chrome/131.0.0.0 Safari/537.36"
    ),
}
"""Headers of a desktop browser, which some services expect."""


async def raise_for_status(response: Any, message: str | None = None) -> None:
    """Raise the aichats error for an aiohttp response with an error status, else nothing.

    429 is a ``RateLimitError`` with ``retry_after`` from ``Retry-After``; any other status
    of 400 or more a ``ProviderHTTPError`` with an excerpt of the body (or ``message``) and
    the URL. Both are raised without a provider name; the core gives them the name of the
    provider whose call this is.
    """
    status = getattr(response, "status", None)
    if not isinstance(status, int) or status < 400:
        return
    from aichats_core.http import redact
    from aichats_core.http._errors import http_error
    from aichats_core.http._responses import read_excerpt

    excerpt = message if message is not None else redact(await read_excerpt(response))
    url = redact(str(getattr(response, "url", "")))
    raise http_error("", status, response.headers, excerpt, url=url)


async def sse_stream(response: Any) -> AsyncIterator[Any]:
    """The JSON value of each server-sent event of an aiohttp response, until
    ``data: [DONE]`` or the end of the body; data that is not JSON is a ``ResponseError``."""
    from aichats_core.compat._g4f_errors import ResponseError
    from aichats_core.http import SSEDecoder, load_json

    decoder = SSEDecoder(provider="")
    content = getattr(response, "content", response)
    async for chunk in content.iter_any():
        for data in decoder.feed(chunk):
            try:
                yield load_json(data)
            except ValueError as exc:
                raise ResponseError(f"an event's data is not JSON ({exc}): {data[:80]!r}") from exc
        if decoder.done:
            return


def get_connector(
    connector: aiohttp.BaseConnector | None = None, proxy: str | None = None, rdns: bool = False
) -> aiohttp.BaseConnector | None:
    """g4f's ``get_connector``: ``connector`` when given, else, for a ``proxy``, a connector
    that sends every request of its session through it (http and https proxies; socks ones
    need the ``aiohttp_socks`` package), else None (aiohttp's default connector)."""
    if connector is not None or not proxy:
        return connector
    from aichats_core.http import proxy_problem

    scheme = proxy.partition("://")[0].lower()
    if scheme.startswith("socks"):
        return _socks_connector(proxy, scheme, rdns)
    problem = proxy_problem(proxy)
    if problem is not None:
        raise InvalidRequestError(f"g4f get_connector: the proxy {problem}")
    return _proxy_connector(proxy)


def _socks_connector(proxy: str, scheme: str, rdns: bool) -> aiohttp.BaseConnector:
    try:
        from aiohttp_socks import ProxyConnector  # type: ignore[import-not-found]
    except ImportError:
        raise InvalidRequestError(
            "g4f get_connector: a socks proxy needs the aiohttp_socks package"
            " (pip install aiohttp_socks); http and https proxies work without it"
        ) from None
    if scheme == "socks5h":  # the proxy resolves names
        proxy, rdns = "socks5" + proxy[len(scheme) :], True
    connector: aiohttp.BaseConnector = ProxyConnector.from_url(proxy, rdns=rdns)
    return connector


def _proxy_connector(proxy: str) -> aiohttp.BaseConnector:
    import aiohttp
    from yarl import URL

    address = URL(proxy)
    auth = aiohttp.BasicAuth.from_url(address)  # the credentials in the URL, if any
    address = address.with_user(None)

    class ProxyConnector(aiohttp.TCPConnector):
        """Sends the requests of its session through ``proxy``, unless one names its own."""

        async def connect(
            self,
            req: aiohttp.ClientRequest,
            traces: list[Any],
            timeout: aiohttp.ClientTimeout,
        ) -> Any:
            if req.proxy is None:
                req.update_proxy(address, auth, None)
            return await super().connect(req, traces, timeout)

    return ProxyConnector()
