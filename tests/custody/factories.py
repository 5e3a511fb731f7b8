from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory

from custody.models import ContainerType, Product
from custody.services.orders import OrderRequest, place_order
from mes.models import Site
from tests.mes.factories import SiteFactory


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ("code",)

    code = "CART-19"
    name = "Anti-CD19 CAR-T (autologous)"
    coi_scheme = Product.CoiScheme.ISBT128


class ContainerTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContainerType
        django_get_or_create = ("code",)

    code = "LN2-DRY"
    name = "Liquid-nitrogen dry shipper"
    min_celsius = None
    max_celsius = Decimal("-150")
    out_of_range_budget_minutes = 30
    max_reading_gap_minutes = 15


def plant(code="PLANT1", fin="G1234") -> Site:
    site = SiteFactory(code=code, name="Plant One", time_zone="Europe/Amsterdam")
    if site.facility_identification_number != fin:
        site.facility_identification_number = fin
        site._change_reason = "Test: facility identification number"
        site.save()
    return site


def clinic(code="CLINIC1") -> Site:
    return SiteFactory(code=code, name="Clinic One", kind=Site.Kind.CLINICAL,
                       time_zone="Europe/Amsterdam")


def order_for(actor, *, manufacturing_site, ordering_site, product=None, initials="JD",
              full_name="Jane Doe", hospital_record_number="H-0001", external_coi=""):
    return place_order(actor=actor, request=OrderRequest(
        product=product or ProductFactory(), manufacturing_site=manufacturing_site,
        ordering_site=ordering_site, initials=initials,
        date_of_birth=dt.date(1971, 3, 14),
        planned_collection_date=dt.date.today() + dt.timedelta(days=14),
        full_name=full_name, hospital_record_number=hospital_record_number,
        external_coi=external_coi))
