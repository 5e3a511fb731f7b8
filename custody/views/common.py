from __future__ import annotations

from mes.errors import DomainError


def form_error(form, error: DomainError) -> None:
    """Show a domain error on the form: its message, and each field's own complaint."""
    form.add_error(None, error.message)
    for field, messages in error.fields.items():
        if field in form.fields and field not in form.errors:
            for message in messages:
                form.add_error(field, message)
