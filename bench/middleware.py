"""Counts the SQL statements each request runs, on the server side, and says so in the response.

`X-Bench-SQL: <statements> <selects>`, `X-Bench-Us: <microseconds in Django>` and `X-Bench-Cpu-Us:
<CPU microseconds of the thread that served it>` are read back by the load generator
(bench/replay.lua), which sums them per message kind; `X-Bench-Kind` is echoed so it can tell the
kinds apart. Under load the wall time includes waiting (for the GIL, the database, FDC); the thread's
CPU time does not, so it is the per-turn cost that queueing cannot blur. Statements are counted through `connection.execute_wrapper`, i.e.
every statement Django sends — SAVEPOINTs included; BEGIN and COMMIT are not (psycopg sends them
itself). `X-Bench-Redis: <round trips>` counts what the request's thread sent to Redis (a pipeline is
one), and `X-Bench-Cache: <hits> <misses>` per namespace (user_memory, conversation_history, usda)
what its reads found; `X-Bench-Cold` and `X-Bench-Line` are echoed, to tell cold starts from the
steady state (replay.lua: a turn sent before its user's first turn was answered is a cold start too).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import redis
from django.db import connection
from django.http import HttpRequest, HttpResponse

from caching.backend import stats

_NAMESPACES = ("user_memory", "conversation_history", "usda")


class _RoundTrips(threading.local):
    count = 0


_trips = _RoundTrips()


def _counting_round_trips() -> None:
    """Count every round trip to Redis, per thread: single commands and pipelines (once per process)."""
    if getattr(redis.Redis.execute_command, "bench_counting", False):
        return
    single, pipelined = redis.Redis.execute_command, redis.client.Pipeline._execute_pipeline
    transaction = redis.client.Pipeline._execute_transaction

    def one(self, *args, **options):
        _trips.count += 1
        return single(self, *args, **options)

    def many(self, *args, **kwargs):
        _trips.count += 1
        return pipelined(self, *args, **kwargs)

    def atomic(self, *args, **kwargs):
        _trips.count += 1
        return transaction(self, *args, **kwargs)

    one.bench_counting = True
    redis.Redis.execute_command = one
    redis.client.Pipeline._execute_pipeline = many
    redis.client.Pipeline._execute_transaction = atomic



class SQLCounter:
    def __init__(self) -> None:
        self.statements = 0
        self.selects = 0

    def __call__(self, execute, sql, params, many, context):
        self.statements += 1
        if sql.lstrip()[:6].upper() == "SELECT":
            self.selects += 1
        return execute(sql, params, many, context)


def count_sql(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    _counting_round_trips()
    def middleware(request: HttpRequest) -> HttpResponse:
        counter = SQLCounter()
        _trips.count = 0
        started, cpu_started = time.perf_counter_ns(), time.thread_time_ns()
        with connection.execute_wrapper(counter), stats.capture() as events:
            response = get_response(request)
        response["X-Bench-Cpu-Us"] = str((time.thread_time_ns() - cpu_started) // 1000)
        response["X-Bench-Us"] = str((time.perf_counter_ns() - started) // 1000)
        response["X-Bench-SQL"] = f"{counter.statements} {counter.selects}"
        response["X-Bench-Redis"] = str(_trips.count)
        reads = {(ns, event): 0 for ns in _NAMESPACES for event in ("hit", "miss")}
        for event in events:
            if event in reads:
                reads[event] += 1
        response["X-Bench-Cache"] = " ".join(str(n) for n in reads.values())
        for header in ("X-Bench-Kind", "X-Bench-Cold", "X-Bench-Line"):
            value = request.headers.get(header)
            if value:
                response[header] = value[:16]
        return response

    return middleware
