"""Counts the SQL statements each request runs, on the server side, and says so in the response.

`X-Bench-SQL: <statements> <selects>`, `X-Bench-Us: <microseconds in Django>` and `X-Bench-Cpu-Us:
<CPU microseconds of the thread that served it>` are read back by the load generator
(bench/replay.lua), which sums them per message kind; `X-Bench-Kind` is echoed so it can tell the
kinds apart. Under load the wall time includes waiting (for the GIL, the database, FDC); the thread's
CPU time does not, so it is the per-turn cost that queueing cannot blur. Statements are counted through `connection.execute_wrapper`, i.e.
every statement Django sends — SAVEPOINTs included; COMMIT is not (psycopg sends it itself).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, HttpResponse


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
    def middleware(request: HttpRequest) -> HttpResponse:
        counter = SQLCounter()
        started, cpu_started = time.perf_counter_ns(), time.thread_time_ns()
        with connection.execute_wrapper(counter):
            response = get_response(request)
        response["X-Bench-Cpu-Us"] = str((time.thread_time_ns() - cpu_started) // 1000)
        response["X-Bench-Us"] = str((time.perf_counter_ns() - started) // 1000)
        response["X-Bench-SQL"] = f"{counter.statements} {counter.selects}"
        kind = request.headers.get("X-Bench-Kind")
        if kind:
            response["X-Bench-Kind"] = kind[:16]
        return response

    return middleware
