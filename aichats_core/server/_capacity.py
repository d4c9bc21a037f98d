"""How many clients one process can hold: its file-descriptor limit, shared out.

Past the limit ``accept()`` fails and a new client waits in the kernel's backlog with no
answer at all. Capping clients below it (``max_clients``) leaves every fd a client may need,
its own socket and the upstream connections its calls open, so the next client gets a
clean 503 instead.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("aichats_core.server")

RESERVED_FDS = 64
"""Descriptors kept for the process itself: listening sockets, the event loop, log files,
DNS lookups, imports."""
FDS_PER_CLIENT = 2
"""A client's socket and the upstream connection its call holds."""


def fd_limit() -> int | None:
    """The soft ``RLIMIT_NOFILE``, or None where there is none (no ``resource`` module)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def raise_fd_limit() -> None:
    """Raise the soft fd limit to the hard one, as servers do at start-up: the soft default
    (often 1024) is for interactive programs, not for thousands of connections."""
    try:
        import resource
    except ImportError:  # Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == hard:
        return  # an unbounded hard limit cannot be the soft one (macOS refuses it)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (OSError, ValueError) as exc:
        logger.debug("could not raise the file-descriptor limit to %d: %s", hard, exc)


def client_capacity(limit: int | None, fds_per_client: int = FDS_PER_CLIENT) -> int | None:
    """The clients ``limit`` descriptors hold, at least 1; None without a limit."""
    if limit is None:
        return None
    return max(1, (limit - RESERVED_FDS) // fds_per_client)


def max_clients(configured: int, fds_per_client: int = FDS_PER_CLIENT) -> int | None:
    """The connection cap to enforce: ``configured``, or (0) what the fd limit allows;
    None for no cap (0 where the process has no fd limit)."""
    limit = fd_limit()
    capacity = client_capacity(limit, fds_per_client)
    if not configured:
        return capacity
    if capacity is not None and configured > capacity:
        logger.warning(
            "max_clients %d is more than the file-descriptor limit of %s allows (about %d"
            " clients): past it new connections cannot even be accepted; raise the limit"
            " (ulimit -n) or lower max_clients",
            configured,
            limit,
            capacity,
        )
    return configured
