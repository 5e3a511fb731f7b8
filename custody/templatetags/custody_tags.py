from django import template
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def coi(patient):
    """The COI eye-readable: a DIN grouped, its flags, and the check character boxed."""
    number = patient.isbt
    if number is None:
        return format_html('<span class="coi">{}</span>', patient.coi)
    grouped, flags, check = number.eye_readable
    return format_html('<span class="coi">{} <small class="coi-flags">{}</small> '
                       '<span class="coi-check" title="check character">{}</span></span>',
                       grouped, flags, check)


@register.simple_tag
def local_time(value, site, fmt="Y-m-d H:i T"):
    """``value`` in the site's time zone, with the zone's abbreviation."""
    from django.utils.dateformat import format as date_format

    if value is None:
        return ""
    return date_format(value.astimezone(site.zone), fmt)
