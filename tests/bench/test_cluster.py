"""bench/cluster.py's report: ratios taken per repetition, the stats-hash verdict from the figures,
and a section `make bench` keeps when it rewrites BENCHMARKS.md."""

from bench import cluster


def _run(throughput: float, p50: float, *, stats: int = 0, per_primary=(1000, 1000, 1000)) -> dict:
    return {"throughput": throughput, "latency_ms": {"p50": p50, "p99": p50 * 3}, "server_cpu_ms_per_turn": 2.0,
            "hit_rate": 0.9, "errors": 0, "turns": 3000, "elapsed_s": 10.0,
            "commands": {"per_primary": list(per_primary), "stats": stats}}


def results(*, stats: int = 30) -> dict:
    return {
        "duration_s": 200,
        "hitpath": {"reps": 9, "calls": 2000, "variants": {
            "raw": {"single": 50.0, "cluster": 60.0, "ratio": 1.2},
            "selector": {"single": 80.0, "cluster": 100.0, "ratio": 1.25}}},
        # rep 1: the cluster at 0.5× the single's throughput; rep 2 at 1.0×: the median of the ratios is 0.75
        "webhook": {"runs": {"single": [_run(100, 10), _run(200, 10)],
                             "cluster": [_run(50, 20, stats=stats), _run(200, 20, stats=stats)]}},
        "versions": {"redis_server": "7.0.15", "postgresql": "15"},
        "machine": {"cores": 2},
    }


def test_ratios_are_taken_per_repetition_then_the_median():
    text = cluster.render(results(), argv=[])
    row = next(line for line in text.splitlines() if line.startswith("| throughput"))
    assert row.split("|")[2:5] == [" 150 ", " 125 ", " 0.75× "]
    assert "| a bare GET of the entry (redis-py `Redis` / `RedisCluster`) | 50.0 | 60.0 | 1.20× |" in text


def test_the_stats_hash_verdict_follows_the_measurement():
    assert "Not a hot slot" in cluster.render(results(stats=30), argv=[])  # 1 % of 3000 commands
    assert "a hot slot, which sharding" in cluster.render(results(stats=600), argv=[])  # 20 %


def test_the_section_is_kept_between_its_markers(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n## Machine, versions, command\n")
    cluster.SECTION.write(cluster.render(results(), argv=[]), path)
    cluster.SECTION.write(cluster.render(results(stats=600), argv=[]), path)  # replaced, not added twice
    text = path.read_text()
    assert text.count(cluster.BEGIN) == 1 and "a hot slot, which sharding" in text
    assert text.index(cluster.END) < text.index("## Machine, versions, command")
    assert cluster.SECTION.read(path).startswith(cluster.BEGIN)
