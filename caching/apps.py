from django.apps import AppConfig


class CachingConfig(AppConfig):
    name = "caching"
    verbose_name = "Cache"

    def ready(self) -> None:
        from caching.backend.guard import PROBE_HOOKS
        from caching.consistency import replay
        from caching.consistency.outbox import replay_before_probe
        from caching.ops.startup import announce
        from caching.servers.connect_hooks import CONNECT_HOOKS

        if replay_before_probe not in PROBE_HOOKS:
            PROBE_HOOKS.append(replay_before_probe)
        if replay.on_connect not in CONNECT_HOOKS:
            CONNECT_HOOKS.append(replay.on_connect)
        announce()
