"""bench/failover.py's table: which turns count as during a failover, which as lost."""

from bench.failover import GAP_S, Bench, Window, rows


def test_turns_are_split_by_the_fault_windows_and_lost_ones_counted():
    bench = Bench("sentinel", topology=None, urls=[])
    bench.windows = [Window("kill -9", 100.0, 105.0), Window("manual", 120.0, 130.0),
                     Window("replica down", 140.0, 146.0)]
    samples = [(100.0 - GAP_S - 1, 9.0, True)]  # warming up: in no row
    samples += [(110.0 + i / 10, 0.030, True) for i in range(99)] + [(119.0, 0.300, True)]  # outside
    samples += [(101.0, 0.050, True), (102.0, 0.070, False)]  # during the kill
    samples += [(121.0, 0.400, True)] * 4  # during the manual failover
    samples += [(141.0, 0.200, True)]
    kill, manual, replica, outside = rows(bench, samples)

    assert kill.startswith("| Sentinel | kill -9 the primary | 1 | 2 | 1 | 50 ms / 30 ms |")
    assert manual.startswith("| Sentinel | SENTINEL FAILOVER | 1 | 4 | 0 | 400 ms / 30 ms |")
    assert kill.endswith("| 5.0 s / 5.0 s |") and manual.endswith("| 10.0 s / 10.0 s |")
    assert replica.startswith("| Sentinel | replica down 6 s | 1 | 1 | 0 | 200 ms")
    assert outside.startswith("| Sentinel | outside any fault | — | 100 | 0 | 30 ms | 33 ms |")  # p99 interpolated
