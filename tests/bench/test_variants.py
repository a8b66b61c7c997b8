"""The hit-path benchmark patches application functions around a batch: the names must exist, or
the benchmark breaks only when someone runs it."""

import pytest

from bench.variants import cache_disabled, stats_off
from caching.keys import user_memory_key
from caching.consistency.reads import read_through


@pytest.mark.parametrize("context", [cache_disabled, stats_off])
def test_patches_apply_and_restore(context):
    from caching.consistency import reads
    from caching.backend import stats

    before = (reads.current_backend, stats.record)
    with context():
        pass
    assert (reads.current_backend, stats.record) == before


def test_cache_disabled_makes_read_through_load_every_time():
    loads = []
    with cache_disabled():
        for _ in range(3):
            read_through(user_memory_key(1), lambda: loads.append(1) or {"x": 1}, timeout=60)
    assert len(loads) == 3
