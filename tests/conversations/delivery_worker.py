"""A delivery worker process for tests/conversations/test_delivery_fleet.py: the passes the Celery tasks
run (conversations.tasks: fire due reminders, deliver due messages), in a loop, on the database and
Bot API its environment names, until killed.

A fault point for the test: when PAUSE_FILE exists and this process manages to rename it away (one
process wins), the pass stops right after it claimed a message — before anything is sent — writes
"<pid>" to PAUSE_FILE + ".paused" and waits there to be killed.
"""

from __future__ import annotations

import os
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthagent.settings")
django.setup()

from conversations.delivery.sender import BotAPISender  # noqa: E402
from conversations.delivery.worker import Worker  # noqa: E402
from conversations.reminders.services import fire_due  # noqa: E402

PAUSE_FILE = os.environ.get("PAUSE_FILE", "")


def hook(step: str, message: object) -> None:
    if step != "claimed" or not PAUSE_FILE:
        return
    mine = f"{PAUSE_FILE}.{os.getpid()}"
    try:
        os.rename(PAUSE_FILE, mine)
    except FileNotFoundError:
        return
    with open(PAUSE_FILE + ".paused.tmp", "w") as out:
        out.write(str(os.getpid()))
    os.rename(PAUSE_FILE + ".paused.tmp", PAUSE_FILE + ".paused")
    time.sleep(3600)


def main() -> None:
    worker = Worker(BotAPISender(), hook=hook)
    print("ready", flush=True)
    while True:
        fire_due()
        worker.deliver_due()
        time.sleep(0.05)


if __name__ == "__main__":
    main()
