from django.apps import AppConfig


class CachingConfig(AppConfig):
    name = "caching"
    verbose_name = "Cache"

    def ready(self) -> None:
        from caching.backend.guard import PROBE_HOOKS
        from caching.consistency.outbox import replay_before_probe
        from caching.ops.startup import announce

        if replay_before_probe not in PROBE_HOOKS:
            PROBE_HOOKS.append(replay_before_probe)
        announce()
