"""Outgoing messages: written with the decision that makes them (queue.py), sent by a worker
(worker.py) through a sender (sender.py: the Bot API, or the terminal of `manage.py chat`).
docs/ARCHITECTURE.md §9 argues the protocol."""
