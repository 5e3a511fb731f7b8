from django import template
from django.utils.safestring import mark_safe

from batchrecords.markdown import render_instructions

register = template.Library()


@register.filter
def instructions(text: str) -> str:
    """Markdown to sanitised HTML (safe to mark: nh3 keeps only the allow-listed tags)."""
    return mark_safe(render_instructions(text))  # noqa: S308
