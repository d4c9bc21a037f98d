"""The ``aichats`` command line: its arguments, and nothing that is slow to import."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

from aichats_core.cli._logs import add_logs_command

DEFAULT_PROVIDER_VARIABLE = "AICHATS_PROVIDER"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aichats",
        description="Chat and image AI providers behind one interface.",
        epilog="Try it offline: aichats chat --emulate 'Hello'",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback when something fails"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listing = commands.add_parser("providers", help="list the installed providers")
    listing.add_argument("--json", action="store_true", help="one JSON object per provider")

    chat = commands.add_parser(
        "chat",
        help="stream an answer to stdout; without a prompt on a terminal, chat interactively",
        epilog="Every turn is recorded in the history (aichats logs) unless --no-log, or"
        " AICHATS_HISTORY=0.",
    )
    chat.add_argument(
        "prompt",
        nargs="?",
        help="the message to send; '-' reads it from stdin; none: an interactive chat on a"
        " terminal, else the prompt is read from stdin",
    )
    _add_call_options(chat, provider_default=None)
    chat.add_argument("--system", help="a system message sent before the prompt")
    chat.add_argument("--json", action="store_true", help="print one JSON event per line")
    chat.add_argument(
        "-c",
        "--continue",
        dest="continue_",
        action="store_true",
        help="continue the most recent conversation of the history",
    )
    chat.add_argument(
        "--cid", metavar="ID", help="continue this conversation (or the start of its id)"
    )
    chat.add_argument(
        "--no-log", action="store_true", help="do not record this chat in the history"
    )
    chat.add_argument(
        "--max-tokens",
        type=_positive_int,
        metavar="N",
        help="end each answer after about N tokens (the provider's own count, or the core's"
        " estimate of 4 characters a token)",
    )
    chat.add_argument(
        "--stop",
        action="append",
        metavar="TEXT",
        help="end each answer before TEXT (repeatable, up to 4)",
    )

    image = commands.add_parser("image", help="generate an image and save it")
    image.add_argument("prompt", help="what to draw; '-' reads it from stdin")
    image.add_argument("--output", help="file to write the image to")
    _add_call_options(image, option_flag=False)
    image.add_argument(
        "-o",
        "--option",
        dest="options",
        action=_OptionOrOutput,
        default=[],
        metavar="PROVIDER.KEY=VALUE | FILE",
        help="an option for the provider, as for chat (repeatable); a value that is not"
        " PROVIDER.KEY=VALUE is the file to write the image to, as --output",
    )

    check = commands.add_parser(
        "check", help="send a minimal request to providers and report which answer"
    )
    check.add_argument("names", nargs="*", metavar="NAME", help="providers to check (all)")
    check.add_argument("--emulate", action="store_true", help="check against their emulators")
    check.add_argument("--timeout", type=_positive, default=30.0, help="seconds (default 30)")
    check.add_argument("--base-url", help="send requests to this URL (a self-hosted service)")
    _add_provider_option_flag(check)
    check.add_argument("--json", action="store_true", help="one JSON object per provider")

    emulator = commands.add_parser("emulator", help="run a provider's local emulator")
    emulator.add_argument("-p", "--provider", default=_default_provider(), help="(aichats)")
    emulator.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    emulator.add_argument("--port", type=int, default=8765, help="port to bind (8765; 0: any)")

    serve = commands.add_parser(
        "serve",
        help="serve an OpenAI-compatible HTTP API (/v1) and a chat page (/) in front of the"
        " providers",
        epilog="Model ids are PROVIDER/MODEL, e.g. aichats/gpt-4. See docs/server.md.",
    )
    _add_serve_flags(serve)
    web = commands.add_parser(
        "web",
        help="aichats serve, and open its chat page in the browser (--emulate: offline)",
        epilog="See docs/web.md.",
    )
    _add_serve_flags(web)
    web.add_argument(
        "--no-browser", action="store_true", help="print the page's URL, do not open it"
    )
    add_logs_command(commands)
    return parser


def _add_serve_flags(serve: argparse.ArgumentParser) -> None:
    """The flags of ``serve``, which ``web`` shares."""
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port to bind (8000; 0: any)")
    _add_provider_option_flag(serve)
    serve.add_argument(
        "--emulate",
        action="store_true",
        help="start every provider's emulator in-process and serve from them (offline)",
    )
    serve.add_argument(
        "--api-key",
        metavar="KEY",
        help="require 'Authorization: Bearer KEY' (default: $AICHATS_API_KEY; none: no auth)",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=_positive_int,
        metavar="BYTES",
        help="largest request body accepted, in bytes, after decompression (1048576)",
    )
    serve.add_argument(
        "--head-timeout",
        type=_positive,
        metavar="SECONDS",
        help="time a client has to send a whole request head (10)",
    )
    serve.add_argument(
        "--body-timeout",
        type=_positive,
        metavar="SECONDS",
        help="time a client has to send a whole request body (30)",
    )
    serve.add_argument(
        "--max-clients",
        type=_non_negative_int,
        metavar="N",
        help="client connections open at once; more get 503 (default 0: from the file limit)",
    )
    serve.add_argument(
        "--max-answer-bytes",
        type=_positive_int,
        metavar="BYTES",
        help="largest answer collected for a non-streaming chat completion (16777216)",
    )
    serve.add_argument(
        "--max-json-depth",
        type=_positive_int,
        metavar="N",
        help="deepest nesting of arrays and objects in a request body (64)",
    )
    serve.add_argument(
        "--shutdown-grace",
        type=_non_negative,
        default=5.0,
        metavar="SECONDS",
        help="seconds open streams may run on after SIGTERM before they are closed (5)",
    )
    serve.add_argument(
        "--max-connections",
        type=_non_negative_int,
        default=None,
        metavar="N",
        help="connections to providers open at once (default 0: no cap)",
    )
    serve.add_argument(
        "--otel",
        action="store_true",
        help="trace calls with OpenTelemetry spans, sent to the globally configured"
        " TracerProvider (e.g. run under opentelemetry-instrument); requests' traceparent"
        " headers become their parents (needs: pip install 'aichats[otel]')",
    )
    serve.add_argument(
        "--public-url",
        metavar="URL",
        help="where clients reach the server, e.g. https://api.example.com behind a TLS proxy;"
        " image URLs start with it",
    )


def _add_provider_option_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "-o",
        "--option",
        dest="options",
        action="append",
        type=_provider_option,
        default=[],
        metavar="PROVIDER.KEY=VALUE",
        help="an option for one provider, e.g. aichats.base_url=http://127.0.0.1:8765;"
        " VALUE is read as JSON when it parses (numbers, true, false), else as text, and"
        " typed by the provider's declared options; repeatable",
    )


class _OptionOrOutput(argparse.Action):
    """``aichats image -o``: a provider option, or (as before options existed) the output
    file; ``PROVIDER.KEY=VALUE`` is never a file name anyone means."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        text = str(values)
        target, equals, _ = text.partition("=")
        if equals and "." in target and "/" not in target:
            namespace.options = [*namespace.options, _provider_option(text)]
        elif namespace.output is not None and namespace.output != text:
            parser.error(f"two output files: {namespace.output!r} and {text!r}")
        else:
            namespace.output = text


def _add_call_options(
    command: argparse.ArgumentParser,
    *,
    option_flag: bool = True,
    provider_default: str | None = "",
) -> None:
    """``provider_default=None`` leaves ``-p`` unset when not given (``chat`` then takes a
    continued conversation's provider, else the default one)."""
    command.add_argument(
        "-p",
        "--provider",
        default=_default_provider() if provider_default == "" else provider_default,
        help="provider name (default: $AICHATS_PROVIDER or aichats)",
    )
    command.add_argument("-m", "--model", help="model name (default: the provider's)")
    command.add_argument("--proxy", help="proxy URL, e.g. http://user:pass@host:3128")
    command.add_argument("--base-url", help="send requests to this URL instead of the service")
    command.add_argument("--cookie", help="cookies for the service, as 'name=value; name2=value2'")
    command.add_argument(
        "--timeout", type=_positive, help="seconds allowed to connect and for each silence"
    )
    command.add_argument(
        "--emulate",
        action="store_true",
        help="start the provider's emulator in-process and talk to it (offline)",
    )
    if option_flag:
        _add_provider_option_flag(command)


def default_provider() -> str:
    """``$AICHATS_PROVIDER``, else ``aichats``."""
    return _default_provider()


def _default_provider() -> str:
    return os.environ.get(DEFAULT_PROVIDER_VARIABLE) or "aichats"


def _provider_option(text: str) -> tuple[str, str, Any]:
    from aichats_core.errors import InvalidRequestError
    from aichats_core.server._options import parse_provider_option

    try:
        return parse_provider_option(text)
    except InvalidRequestError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    value = _integer(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be a port number from 0 to 65535")
    return value


def _non_negative_int(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 (no cap) or more")
    return value


def _positive_int(text: str) -> int:
    value = _integer(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value
