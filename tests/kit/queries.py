"""Query-count baselines: a list page must cost the same number of queries at any size."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext


def count_queries(client: Any, url: str, *, method: str = "get", **kwargs: Any) -> tuple[int, Any]:
    with CaptureQueriesContext(connection) as ctx:
        response = getattr(client, method)(url, **kwargs)
    assert response.status_code == 200, f"{url} answered {response.status_code}, not 200"
    return len(ctx.captured_queries), ctx


def assert_constant_queries(
    client: Any,
    url: str,
    grow: Callable[[int], None],
    *,
    expected: int,
    sizes: tuple[int, int] = (2, 12),
    method: str = "get",
    **kwargs: Any,
) -> None:
    """Assert `url` runs `expected` queries with `sizes[0]` rows and with `sizes[1]` rows.

    `grow(n)` adds n more rows that the page shows. The pinned `expected` catches a new query
    even when it does not grow with the data; the two sizes catch an N+1. A warm-up request
    first, so one-off work (session refresh, content types) does not count.
    """
    small, large = sizes
    assert 0 < small < large, "sizes must be (small, large) with 0 < small < large"
    grow(small)
    count_queries(client, url, method=method, **kwargs)  # warm-up
    at_small, ctx_small = count_queries(client, url, method=method, **kwargs)
    grow(large - small)
    at_large, ctx_large = count_queries(client, url, method=method, **kwargs)
    if at_small != at_large:
        raise AssertionError(
            f"{url}: {at_small} queries with {small} rows but {at_large} with {large}: "
            f"an N+1.\nQueries at {large} rows:\n" + _listing(ctx_large)
        )
    if at_small != expected:
        raise AssertionError(
            f"{url}: {at_small} queries, pinned at {expected}. If the change is intended, "
            "update the pin.\n" + _listing(ctx_small)
        )


def _listing(ctx: CaptureQueriesContext) -> str:
    return "\n".join(f"  {i + 1}. {q['sql'][:200]}" for i, q in enumerate(ctx.captured_queries))
