"""The commands that call providers: ``chat``, ``image``, ``check``, ``emulator`` and
``serve`` (which lives in ``_serve``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aichats_core import list_providers
from aichats_core.cli._listing import print_table
from aichats_core.cli._serve import serve_command
from aichats_core.errors import AiChatsError, InvalidRequestError

if TYPE_CHECKING:
    from aichats_core.emulators import Emulator

Command = Callable[[argparse.Namespace], int]


def image_command(args: argparse.Namespace) -> int:
    if not args.output:
        raise InvalidRequestError("say where to save the image: -o FILE (or --output FILE)")
    data = asyncio.run(_image(args, _prompt(args.prompt)))
    output = Path(args.output)
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise InvalidRequestError(f"cannot write {output}: {exc.strerror}") from exc
    print(f"saved {len(data)} bytes to {output}")
    return 0


async def _image(args: argparse.Namespace, prompt: str) -> bytes:
    from aichats_core import complete, get_provider

    model = args.model
    if not model:
        image_models = getattr(get_provider(args.provider), "image_models", [])
        if not image_models:
            raise InvalidRequestError(
                f"provider {args.provider!r} lists no image models; pass one with -m"
            )
        model = image_models[0]
    per_provider = _option_flags(args, [args.provider])
    async with _provider_options(args) as options:
        uri = await complete(
            args.provider, prompt, model=model, provider_options=per_provider, **options
        )
        from aichats_core.http import image_bytes

        return (await image_bytes(args.provider, uri, options))[0]


@asynccontextmanager
async def _provider_options(args: argparse.Namespace) -> AsyncIterator[dict[str, Any]]:
    """The per-call options from the flags, with an emulator running when ``--emulate``."""
    options: dict[str, Any] = {}
    for flag, option in (("proxy", "proxy"), ("base_url", "base_url"), ("cookie", "cookies")):
        if getattr(args, flag, None):
            options[option] = getattr(args, flag)
    if getattr(args, "timeout", None):
        options["timeout"] = args.timeout
    if not getattr(args, "emulate", False):
        yield options
        return
    if getattr(args, "base_url", None):
        raise InvalidRequestError(
            "--emulate and --base-url both say where to send requests; give one of them"
        )
    from aichats_core.emulators import find_emulator

    async with find_emulator(args.provider)() as emulator:
        yield {**options, **emulator.provider_options()}


def check_command(args: argparse.Namespace) -> int:
    return asyncio.run(_check(args))


async def _check(args: argparse.Namespace) -> int:
    from aichats_core import get_provider
    from aichats_core.emulators import has_emulator

    names = args.names or [info.name for info in list_providers()]
    per_provider = _option_flags(args, names)
    results = []
    for name in names:
        if args.emulate and not has_emulator(name):
            results.append({"name": name, "ok": False, "error": "no emulator", "seconds": None})
            continue
        call = argparse.Namespace(
            provider=name, emulate=args.emulate, timeout=args.timeout, base_url=args.base_url
        )
        started = time.perf_counter()
        try:
            get_provider(name)  # a broken plugin is said as such, before any emulator
            async with _provider_options(call) as options:
                text = await asyncio.wait_for(
                    _first_answer(name, options, per_provider), timeout=args.timeout * 2
                )
            error = None if text else "empty answer"
        except (AiChatsError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        elapsed = round(time.perf_counter() - started, 3)
        results.append({"name": name, "ok": error is None, "error": error, "seconds": elapsed})
    if args.json:
        for result in results:
            print(json.dumps(result))
    else:
        print_table(
            ["NAME", "STATUS", "LATENCY", "ERROR"],
            [
                [
                    r["name"],
                    "ok" if r["ok"] else "failed",
                    "-" if r["seconds"] is None else f"{r['seconds'] * 1000:.0f} ms",
                    r["error"] or "",
                ]
                for r in results
            ],
        )
    return 0 if results and all(r["ok"] for r in results) else 1


async def _first_answer(
    name: str, options: dict[str, Any], per_provider: dict[str, dict[str, Any]]
) -> str:
    from aichats_core import complete, normalize_name

    own = per_provider.get(normalize_name(name))  # the -o options of the others are theirs
    return await complete(  # a check is a probe: it calls a cooling provider too
        name,
        "Reply with OK.",
        provider_options={name: own} if own else None,
        ignore_breaker=True,
        **options,
    )


def _option_flags(args: argparse.Namespace, providers: list[str]) -> dict[str, dict[str, Any]]:
    """The ``-o PROVIDER.KEY=VALUE`` options, by provider; one for a provider this command
    does not call is a mistake, said rather than dropped."""
    from aichats_core import normalize_name
    from aichats_core.server._options import merge_options

    options = merge_options(getattr(args, "options", []) or [])
    called = {normalize_name(name) for name in providers}
    for name in options:
        if name not in called:
            raise InvalidRequestError(
                f"-o {name}.{next(iter(options[name]))}=...: this command calls"
                f" {', '.join(sorted(called))}, not {name!r}"
            )
    return options


def emulator_command(args: argparse.Namespace) -> int:
    from aichats_core.emulators import find_emulator

    emulator_class = find_emulator(args.provider)
    try:
        asyncio.run(_serve(emulator_class(host=args.host, port=args.port), args.provider))
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    except OSError as exc:  # binding is the only I/O before the emulator runs
        raise cannot_listen(args.host, args.port, exc) from exc
    return 0


def cannot_listen(host: str, port: int, exc: OSError) -> InvalidRequestError:
    """The one-line error for a server that cannot bind its address."""
    reason = exc.strerror or str(exc)
    return InvalidRequestError(
        f"cannot listen on {host}:{port}: {reason}; choose another --port (0 picks a free one)"
    )


async def _serve(emulator: Emulator, provider: str) -> None:
    async with emulator:
        print(f"emulator listening on {emulator.url} (Ctrl-C stops it)", flush=True)
        print(f"try: aichats chat -p {provider} --base-url {emulator.url} 'Hello'", flush=True)
        await asyncio.Event().wait()


def _prompt(text: str) -> str:
    if text == "-":
        text = sys.stdin.read()
        if text.endswith("\n"):
            text = text[:-1]
    if not text.strip():
        raise InvalidRequestError("the prompt is empty")
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError as exc:  # bytes of another encoding, kept as surrogates
            raise InvalidRequestError(
                f"the prompt is not UTF-8 (byte {ord(text[exc.start]) - 0xDC00:#04x} at"
                f" {exc.start}); set the terminal to UTF-8, or convert it with iconv"
            ) from None
    return text


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def chat_command(args: argparse.Namespace) -> int:
    from aichats_core.cli._chat import chat_command as chat

    return chat(args)


COMMANDS: dict[str, Command] = {
    "chat": chat_command,
    "image": image_command,
    "check": check_command,
    "emulator": emulator_command,
    "serve": serve_command,
    "web": serve_command,  # the same server; it opens the page once listening
}
