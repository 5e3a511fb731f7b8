"""Make the published schema say what the API really answers: every operation declares the
error body for the statuses any request can meet (a malformed query, no or a locked
credential, no permission, another site's record), and writes also the statuses a body can
meet (conflict, a replayed idempotency key with another body, too large, wrong media type,
a lockout). Schemathesis holds the API to it (tests/test_api_fuzz.py)."""

from __future__ import annotations

from django.utils import translation
from drf_spectacular.views import SpectacularAPIView
from rest_framework.response import Response

ERROR_BODY = {
    "type": "object",
    "required": ["code", "message", "fields"],
    "properties": {
        "code": {"type": "string", "description": "Machine-readable reason, e.g. not_found."},
        "message": {"type": "string", "description": "What went wrong, for a person."},
        "fields": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "description": "Messages per field of the request, if any.",
        },
    },
}

EVERY_OPERATION = {
    "400": "The request is not valid (see fields).",
    "401": "No, an unknown, a locked or a deactivated account's credentials.",
    "403": "Not authorised for this action or record.",
    "404": "No such record, or one of a site the caller may not see.",
}
WRITES = {
    "409": "Conflicts with the record's current state, or a repeat still in progress.",
    "413": "The request body is too large.",
    "415": "The request body is not JSON.",
    "422": "The Idempotency-Key was used before with another body.",
    "429": "The account is locked after repeated failed passwords.",
}


def declare_error_responses(result, generator, request, public):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR_BODY)
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path in result.get("paths", {}).values():
        for method, operation in path.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            statuses = dict(EVERY_OPERATION)
            if method != "get":
                statuses.update(WRITES)
            responses = operation.setdefault("responses", {})
            for status, description in statuses.items():
                responses.setdefault(status, {"description": description, "content": body})
    return result


class CachedSchemaView(SpectacularAPIView):
    """The schema depends only on the code, so it is generated once per process (per deploy)
    and version/language, not on every request."""

    _schemas: dict = {}

    def _get_schema_response(self, request):
        version = self.api_version or request.version or self._get_version_parameter(request)
        key = (version, translation.get_language(), self.serve_public)
        schema = self._schemas.get(key)
        if schema is None:
            generator = self.generator_class(urlconf=self.urlconf, api_version=version,
                                             patterns=self.patterns)
            schema = self._schemas[key] = generator.get_schema(request=request,
                                                               public=self.serve_public)
        filename = self._get_filename(request, version)
        return Response(data=schema,
                        headers={"Content-Disposition": f'inline; filename="{filename}"'})
