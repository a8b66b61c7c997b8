"""The one application error type.

Raised anywhere a request cannot be served for a reason the user can act on (bad input, an upstream
that refused us). It carries the message the user sees; the bot turns it into a reply and views into
an HTTP status, each in one place. Real bugs are other exceptions and are never swallowed.
"""

from django.utils.functional import Promise


class ApplicationError(Exception):
    def __init__(self, message: str | Promise, *, status: int = 400) -> None:
        # A translatable message is put into words here, where it is raised: in the turn's language.
        message = str(message)
        super().__init__(message)
        self.message = message
        self.status = status
