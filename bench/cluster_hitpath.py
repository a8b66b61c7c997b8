"""bench/cluster.py's hit path, in one Django process: the same entry read from a single Redis and
from a Cluster, in batches of each in shuffled order (bench/hitpath.py's timing).

    python -m bench.cluster_hitpath --cluster host:port,... [--reps 9] [--calls 2000]   (prints JSON)

Django is configured for the single Redis (REDIS_URL); the Cluster's backend is built beside it from
the same OPTIONS as settings.py builds them (caching/servers/config.py), and `caches["default"]` is swapped
around each batch, so the selector reads through exactly the code it runs in production.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import django

USER_ID = 900_000_001


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="single Redis vs Cluster hit path (run by bench.cluster)")
    parser.add_argument("--cluster", required=True, help="REDIS_CLUSTER_NODES of the Cluster")
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthagent.settings")
    django.setup()

    from django.conf import settings
    from django.core.cache import caches

    from caching.backend.cache import RedisCache
    from caching.consistency.backend import forget
    from caching.keys import user_memory_key
    from caching.servers.config import apply_to, from_environment
    from memory.selectors import load_user_memory
    from memory.services import preference_set, profile_ensure

    from .hitpath import time_batch
    from .percentile import median, ratios_to
    from .variants import Variant, both, in_turn

    conf = copy.deepcopy(settings.CACHES["default"])
    topology = from_environment({"REDIS_CLUSTER_NODES": args.cluster})
    assert topology is not None
    apply_to(conf["OPTIONS"], topology, sentinel_timeouts=(1.0, 1.0))
    backends = {"single": caches["default"],
                "cluster": RedisCache(topology.location, {k: v for k, v in conf.items() if k not in {"BACKEND", "LOCATION"}})}

    @contextmanager
    def using(backend: Any) -> Iterator[None]:
        original = caches["default"]
        caches["default"] = backend
        forget()  # the cached reads look the backend up once per thread
        try:
            yield
        finally:
            caches["default"] = original
            forget()

    profile_ensure(user_id=USER_ID, name="Ann")
    for key, value in (("diet", "vegetarian"), ("allergy", "peanuts"), ("units", "metric")):
        preference_set(user_id=USER_ID, key=key, value=value)
    variants: dict[str, Variant] = {}
    for side, backend in backends.items():
        with using(backend):
            load_user_memory(user_id=USER_ID)  # the fill: every timed call is a hit
        client = backend.client.get_client(write=True)
        rkey = backend.make_and_validate_key(user_memory_key(USER_ID))
        assert client.get(rkey) is not None, f"{side}: the entry was not cached"
        variants[f"raw_{side}"] = Variant(f"GET ({side})", lambda client=client, rkey=rkey: client.get(rkey),
                                          context=lambda backend=backend: using(backend))
        variants[f"selector_{side}"] = Variant(
            f"selector ({side})", lambda: load_user_memory(user_id=USER_ID),
            context=lambda backend=backend: both(lambda: using(backend), in_turn))

    rng = random.Random(args.seed)
    per_rep: list[dict[str, float]] = []
    for _ in range(args.reps):
        order = list(variants)
        rng.shuffle(order)
        per_rep.append({name: median(time_batch(variants[name], args.calls)) for name in order})
    result: dict[str, Any] = {"reps": args.reps, "calls": args.calls, "variants": {}}
    for kind in ("raw", "selector"):
        ratios = ratios_to("single", [{side: rep[f"{kind}_{side}"] for side in ("single", "cluster")}
                                              for rep in per_rep])
        result["variants"][kind] = {side: median([rep[f"{kind}_{side}"] for rep in per_rep]) for side in ("single", "cluster")}
        result["variants"][kind]["ratio"] = ratios["cluster"]["median"]
        result["variants"][kind]["ratio_range"] = [ratios["cluster"]["min"], ratios["cluster"]["max"]]
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
