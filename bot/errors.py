"""opsbot's own errors. Errors of the libraries below (kubernetes, httpx, slack_sdk, sqlite)
are translated once, in the gateway that meets them, into one of these: each says what to do."""

from __future__ import annotations


class OpsbotError(Exception):
    """Base class: the message is meant for the person who ran the command.

    An error translated from an HTTP API keeps what the API said, so that a caller can tell one
    answer from another without digging into `__cause__`: `status` (the HTTP status, None when
    there was no answer) and `details` (the API's own message, e.g. a Kubernetes Status message).
    """

    kind = "error"

    def __init__(self, *args: object, status: int | None = None, details: str | None = None) -> None:
        super().__init__(*args)
        self.status = status
        self.details = details


class ConfigError(OpsbotError):
    """A setting has a bad value; the message names the setting."""

    kind = "config"

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        self.problem = problem
        super().__init__(f"bad setting {setting}: {problem}")


class UsageError(OpsbotError):
    """What a user typed cannot be understood."""

    kind = "usage"


class NotFoundError(OpsbotError):
    kind = "not_found"


class ForbiddenError(OpsbotError):
    """The API refused: the message names the missing RBAC verb and resource."""

    kind = "forbidden"


class UpstreamTimeoutError(OpsbotError):
    kind = "timeout"


class UnavailableError(OpsbotError):
    """The API could not be reached or answered with a server error."""

    kind = "unavailable"


class PatternFileError(OpsbotError):
    """A row of a YAML knowledge file is invalid; the message names the file, row and field."""

    kind = "config"
