"""Reminders and the evening summary, in the user's time zone: what the user asked for (parse.py),
when each comes (schedule.py), firing them into the outgoing queue (services.py), the summary's text
(summary.py)."""
