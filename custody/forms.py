from django import forms

from custody.models import ContainerType, Order, Patient, Product, Shipment
from custody.models.custody import EventKind
from custody.services.orders import MANUAL_STAGES
from mes.models import Site


class OrderForm(forms.Form):
    product = forms.ModelChoiceField(queryset=Product.objects.filter(is_active=True))
    ordering_site = forms.ModelChoiceField(queryset=Site.objects.none(),
                                           label="Ordering (treating) site")
    manufacturing_site = forms.ModelChoiceField(
        queryset=Site.objects.exclude(kind=Site.Kind.CLINICAL).filter(is_active=True))
    initials = forms.CharField(max_length=8)
    date_of_birth = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    planned_collection_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    full_name = forms.CharField(max_length=200, label="Patient's full name")
    hospital_record_number = forms.CharField(max_length=64)
    external_coi = forms.CharField(max_length=64, required=False, label="Sponsor COI",
                                   help_text="Only for products whose COI the sponsor assigns.")
    external_reference = forms.CharField(max_length=64, required=False,
                                         label="Your order reference")

    def __init__(self, *args, actor=None, **kwargs):
        super().__init__(*args, **kwargs)
        if actor is not None:
            self.fields["ordering_site"].queryset = actor.sites().filter(
                kind=Site.Kind.CLINICAL)


class AdvanceOrderForm(forms.Form):
    """The stages a person records by hand (collection scheduled, cancelled); the others
    follow the custody events and the batch record."""

    status = forms.ChoiceField(
        choices=[], label="New stage",
        help_text="Scheduling the collection, or cancelling. Every other stage follows the "
                  "signed custody events and the batch record.")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)

    def __init__(self, *args, stages=None, **kwargs):
        super().__init__(*args, **kwargs)
        offered = MANUAL_STAGES if stages is None else stages
        self.fields["status"].choices = [(value, label) for value, label
                                         in Order.Status.choices if value in offered]


class PurposeForm(forms.Form):
    purpose = forms.CharField(max_length=300, label="Why do you need to see who this is?")


class LookupForm(forms.Form):
    scan = forms.CharField(max_length=100, label="Scan or type a COI")


class HandoffForm(forms.Form):
    patient = forms.ModelChoiceField(queryset=Patient.objects.none(), label="Patient (COI)")
    kind = forms.ChoiceField(choices=EventKind.choices, label="Event")
    site = forms.ModelChoiceField(queryset=Site.objects.none())
    shipment = forms.ModelChoiceField(queryset=Shipment.objects.none(), required=False)
    container_id = forms.CharField(max_length=64, label="Container or bag identifier")
    location = forms.CharField(max_length=100, required=False)
    position = forms.CharField(max_length=50, required=False)
    note = forms.CharField(max_length=2000, required=False,
                           widget=forms.Textarea(attrs={"rows": 2}))
    label_scan = forms.CharField(max_length=100, label="Label scan",
                                 widget=forms.TextInput(attrs={"autocomplete": "off",
                                                               "class": "scan-input"}))

    def __init__(self, *args, actor=None, **kwargs):
        super().__init__(*args, **kwargs)
        if actor is not None:
            self.fields["patient"].queryset = Patient.objects.visible_to(actor).filter(
                status=Patient.Status.ACTIVE).order_by("coi")
            self.fields["site"].queryset = actor.sites()
            self.fields["shipment"].queryset = Shipment.objects.visible_to(actor).exclude(
                status=Shipment.Status.CANCELLED)


class ShipmentForm(forms.Form):
    origin = forms.ModelChoiceField(queryset=Site.objects.none())
    destination = forms.ModelChoiceField(queryset=Site.objects.all())
    container_type = forms.ModelChoiceField(queryset=ContainerType.objects.all())
    container_id = forms.CharField(max_length=64, label="Container identifier")
    carrier = forms.CharField(max_length=100)
    tracking_number = forms.CharField(max_length=64, required=False)

    def __init__(self, *args, actor=None, patient=None, **kwargs):
        super().__init__(*args, **kwargs)
        if actor is not None and patient is not None:
            ids = [patient.site_id, patient.treating_site_id]
            self.fields["origin"].queryset = actor.sites().filter(pk__in=ids)
            self.fields["destination"].queryset = Site.objects.filter(pk__in=ids)


class CsvUploadForm(forms.Form):
    file = forms.FileField(label="Logger CSV (recorded_at, celsius, logger_id)")
    logger_id = forms.CharField(max_length=64, required=False,
                                help_text="Used for rows without a logger_id column. Times "
                                          "without a UTC offset are read in the origin "
                                          "site's time zone.")
