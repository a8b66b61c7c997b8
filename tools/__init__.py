"""Development tools around the service, not part of it: the conformance runners (Django's and
django-redis's own test suites against our backend), throwaway Redis servers and topologies for the
tests, the benchmarks and CI. Nothing under caching/, conversations/, memory/, nutrition/ or
healthagent/ imports from here, and the Docker image ships none of it (.dockerignore)."""
