from django import template

from mes import identifiers

register = template.Library()


@register.simple_tag
def coi(patient):
    """The COI eye-readable: kept for older templates; the one rendering is
    ``mes.identifiers.coi`` (``{{ patient|coi }}`` with ``mes_tags``)."""
    return identifiers.coi(patient)


@register.simple_tag
def local_time(value, site):
    """``value`` in the site's time zone, with the zone's abbreviation: kept for older
    templates; the one rendering is ``{{ value|when:site }}`` with ``mes_tags``."""
    return identifiers.when(value, site)
