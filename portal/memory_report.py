"""What the status page says of memory per learner's server: measured against the budget (pure).

Numbers in MiB. The measurement is proportional set size per server (the server with all its
descendants, the fork server's own share spread over the servers: hubconfig.processes), the
same figure bench/launch_storm.py reports; the budget is SERVER_MEMORY_MB, the operator's or
the spawner's measured default (hubconfig.contract.SERVER_MEMORY_MB_MEASURED).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def memory_report(
    *,
    per_server_mb: Sequence[float],
    complete: bool,
    fork_servers: int,
    budget_mb: int,
    budget_set: bool,
    spawner: str,
) -> dict[str, Any]:
    """Return the status page's memory facts as plain data.

    per_server_mb: each server's PSS in MiB (empty: no server of this hub found on this host,
    reported as not measured, never as 0). The hint is set when the largest server is over the
    budget: capacity counts every server at the budget, so a host full of such servers would
    hold fewer than capacity says.
    """
    budget = {
        "budget_mb": budget_mb,
        "budget_source": "operator" if budget_set else "measured default",
        "budget_why": (
            "set by the operator (SERVER_MEMORY_MB)"
            if budget_set
            else f"the measured default for the {spawner} spawner (a server with a kernel, plus room for work)"
        ),
        "seats_per_gb": round(1024 / budget_mb, 1),
    }
    if not per_server_mb:
        return {"measured": False, "servers": 0, **budget, "over_budget": False, "hint": None}
    largest = max(per_server_mb)
    over = largest > budget_mb
    hint = None
    if over:
        suggest = math.ceil(largest / 16) * 16  # a round figure just above the largest server
        hint = (
            f"The largest server uses {largest:.0f} MiB, over the {budget_mb} MiB budget: the host may hold "
            f"fewer servers than its capacity says. Set SERVER_MEMORY_MB to about {suggest} "
            "(or lower CAPACITY_MAX_SERVERS)."
        )
    return {
        "measured": True,
        "servers": len(per_server_mb),
        "mean_mb": round(sum(per_server_mb) / len(per_server_mb), 1),
        "max_mb": round(largest, 1),
        "fork_servers": fork_servers,
        "complete": complete,
        **budget,
        "over_budget": over,
        "hint": hint,
    }
