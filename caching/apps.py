from django.apps import AppConfig


class CachingConfig(AppConfig):
    name = "caching"
    verbose_name = "Cache"

    def ready(self) -> None:
        from .guard import PROBE_HOOKS
        from .outbox import replay_before_probe
        from .startup import announce

        if replay_before_probe not in PROBE_HOOKS:
            PROBE_HOOKS.append(replay_before_probe)
        announce()
