"""One error hierarchy for the service layer, mapped to HTTP codes in exactly one place (the API's error
handler). Core ``MatcherError`` (bad data, labels, settings) maps to 400 there too."""

from __future__ import annotations


class ServiceError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, field: str | None = None, row: int | None = None,
                 line: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.row = row  # 1-based data row of a table without lines (Parquet, a database table)
        self.line = line  # line of the user's CSV file, the header being line 1


class ValidationError(ServiceError):
    status = 422
    title = "Invalid input"


class NotFound(ServiceError):
    status = 404
    title = "Not found"


class Conflict(ServiceError):
    status = 409
    title = "Conflict"


class Unauthorized(ServiceError):
    status = 401
    title = "Unauthorized"


class Forbidden(ServiceError):
    status = 403
    title = "Forbidden"


class PayloadTooLarge(ServiceError):
    status = 413
    title = "Payload too large"


class UnsupportedMediaType(ServiceError):
    status = 415
    title = "Unsupported media type"


class ServiceUnavailable(ServiceError):
    status = 503
    title = "Service unavailable"


class GatewayTimeout(ServiceError):
    """Another server (a database a dataset is copied from) did not answer in time."""

    status = 504
    title = "Gateway timeout"
