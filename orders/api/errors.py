"""Errors of the intake API and the JSON body each one answers with."""
from __future__ import annotations

from django.http import JsonResponse


class ApiError(Exception):
    """Answered as `{"code", "message", "fields"}` with `status`."""

    def __init__(
        self, status: int, code: str, message: str, *, fields: dict[str, list[str]] | None = None, headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.fields = fields or {}
        self.headers = headers or {}

    def response(self) -> JsonResponse:
        return error_response(self.status, self.code, self.message, fields=self.fields, headers=self.headers)


def error_response(status: int, code: str, message: str, *, fields: dict | None = None, headers: dict | None = None) -> JsonResponse:
    response = JsonResponse({"code": code, "message": message, "fields": fields or {}}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "not_authenticated", message, headers={"WWW-Authenticate": 'Bearer realm="order-desk"'})
