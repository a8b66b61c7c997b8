"""One contract run, in its own process: `python -m tools.conformance.contract.suite TESTS_DIR LABEL RESULT_FILE`.

Runs Django's BaseCacheTests against CACHES["default"] exactly as Django runs them for its own
RedisCache (the cull caches left out, which makes the three culling tests skip themselves), under
the warning filters Django's own runner sets (tests/runtests.py of the same sdist: RuntimeWarning,
CacheKeyWarning among them, and ResourceWarning are errors), and writes the counts to RESULT_FILE
as JSON.
"""

from __future__ import annotations

import ast
import json
import os
import sys
import unittest
import warnings
from pathlib import Path

CULLING_TESTS = {"test_cull", "test_zero_cull", "test_cull_delete_when_store_empty"}


def apply_runtests_warning_filters(tests_dir: str) -> list[str]:
    """Run the module-level `warnings.simplefilter/filterwarnings(...)` calls of Django's
    runtests.py, as it does before running any test; returns their source."""
    import builtins

    import django.utils.deprecation

    tree = ast.parse(Path(tests_dir, "runtests.py").read_text())
    calls = [
        node for node in tree.body
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Attribute) and isinstance(node.value.func.value, ast.Name)
        and node.value.func.value.id == "warnings" and node.value.func.attr in {"simplefilter", "filterwarnings"}
    ]
    namespace = {**vars(builtins), **vars(django.utils.deprecation), "warnings": warnings}
    for call in calls:
        exec(compile(ast.Module(body=[call], type_ignores=[]), "runtests.py", "exec"), namespace)
    return [ast.unparse(call) for call in calls]


def main(tests_dir: str, label: str, result_file: str) -> int:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tools.conformance.contract.settings"
    sys.path.insert(0, tests_dir)  # Django's test apps import as top-level packages: `cache`
    filters = apply_runtests_warning_filters(tests_dir)
    if not any("RuntimeWarning" in line for line in filters):
        print("contract: runtests.py no longer sets the RuntimeWarning filter this run relies on", file=sys.stderr)
        return 1
    print("contract: Django's runtests.py warning filters: " + "; ".join(filters), flush=True)
    import django

    django.setup()
    from django.conf import settings
    from django.test import TestCase, override_settings
    from django.test.runner import DiscoverRunner

    from django.core.cache import caches

    from cache.tests import BaseCacheTests, caches_setting_for_tests

    @override_settings(
        CACHES=caches_setting_for_tests(base=dict(settings.CACHES["default"]), exclude={"cull", "zero_cull"})
    )
    class HealthagentCacheTests(BaseCacheTests, TestCase):
        """Nothing overridden: not even incr_decr_type_error, which Django relaxes for its RedisCache."""

    runner = DiscoverRunner(verbosity=1, interactive=False)
    runner.setup_test_environment()
    old_config = runner.setup_databases()
    try:
        result = runner.run_suite(unittest.TestLoader().loadTestsFromTestCase(HealthagentCacheTests))
    finally:
        runner.teardown_databases(old_config)
        runner.teardown_test_environment()

    def method(test: object) -> str:  # a failing subTest reports as its parent test
        return getattr(test, "test_case", test)._testMethodName

    failed = sorted({method(test) for test, _ in result.failures + result.errors})
    skipped = sorted({method(test) for test, _ in result.skipped})
    unexpected_skips = sorted(set(skipped) - CULLING_TESTS)
    counts = {
        "label": label,
        "cache": settings.CACHES["default"]["BACKEND"],
        "location": caches["default"].display_url,
        "total": result.testsRun,
        "passed": result.testsRun - len(failed) - len(skipped),
        "failed": failed,
        "skipped": skipped,
        "unexpected_skips": unexpected_skips,
    }
    with open(result_file, "w") as f:
        json.dump(counts, f)
    return 1 if failed or unexpected_skips else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
