"""Every aiohttp access-log atom works through ``AccessLog``, whose stand-in request shows the
atoms only what it chooses: an atom reading another attribute would break the log quietly."""

from __future__ import annotations

import logging
import os
import re

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from aichats_core.server._access_log import AccessLog

ATOMS = {
    "%a": r"127\.0\.0\.1",
    "%t": r"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]",
    "%P": f"<{os.getpid()}>",
    "%r": r"GET /v1/models\?key=\.\.\.&n=\.\.\. HTTP/1\.1",
    "%s": "200",
    "%b": r"\d+",
    "%T": r"\d+",
    "%Tf": r"\d+\.\d{6}",
    "%D": r"\d+",
    "%{User-Agent}i": "probe/1",
    "%{X-Request-Id}o": "id-7",
    "%{Authorization}i": r"\[redacted\]",
    "%{X-Auth-Token}i": r"\[redacted\]",
}
"""Each documented atom (aiohttp.web_log.AccessLogger) and what it must write."""


@pytest.mark.parametrize("atom", ATOMS)
def test_each_log_atom_writes_what_it_documents(
    atom: str, caplog: pytest.LogCaptureFixture
) -> None:
    request = make_mocked_request(
        "GET",
        "/v1/models?key=sk-hidden&n=1",
        headers={
            "User-Agent": "probe/1",
            "Authorization": "Bearer sk-hidden",
            "X-Auth-Token": "sk-hidden",
        },
        transport=_Transport(),
    )
    response = web.Response(text="{}", headers={"X-Request-Id": "id-7"})
    logger = logging.getLogger("test.access")
    with caplog.at_level(logging.INFO, logger="test.access"):
        AccessLog(logger, f"<{atom}>").log(request, response, 0.25)
    assert [record.levelno for record in caplog.records] == [logging.INFO], caplog.text
    line = caplog.records[0].getMessage()
    assert re.fullmatch(f"<{ATOMS[atom]}>", line), line
    assert "sk-hidden" not in line


class _Transport:
    """What ``request.remote`` asks of the connection."""

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 40000) if name == "peername" else default
