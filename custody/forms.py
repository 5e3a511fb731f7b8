from django import forms

from custody.models import ContainerType, Order, Product
from custody.models.custody import EventKind
from custody.services.orders import MANUAL_STAGES
from mes.forms import ISODateField
from mes.models import Site


class OrderForm(forms.Form):
    product = forms.ModelChoiceField(queryset=Product.objects.filter(is_active=True))
    ordering_site = forms.ModelChoiceField(
        queryset=Site.objects.none(), label="Ordering (treating) site"
    )
    manufacturing_site = forms.ModelChoiceField(
        queryset=Site.objects.exclude(kind=Site.Kind.CLINICAL).filter(is_active=True)
    )
    initials = forms.CharField(max_length=8)
    date_of_birth = ISODateField()
    planned_collection_date = ISODateField()
    full_name = forms.CharField(max_length=200, label="Patient's full name")
    hospital_record_number = forms.CharField(max_length=64)
    external_coi = forms.CharField(
        max_length=64,
        required=False,
        label="Sponsor COI",
        help_text="Only for products whose COI the sponsor assigns.",
    )
    external_reference = forms.CharField(
        max_length=64, required=False, label="Your order reference"
    )

    def __init__(self, *args, actor=None, **kwargs):
        super().__init__(*args, **kwargs)
        if actor is not None:
            self.fields["ordering_site"].queryset = actor.sites().filter(kind=Site.Kind.CLINICAL)


class AdvanceOrderForm(forms.Form):
    """The stages a person records by hand (collection scheduled, cancelled); the others
    follow the custody events and the batch record."""

    status = forms.ChoiceField(
        choices=[],
        label="New stage",
        help_text="Scheduling the collection, or cancelling. Every other stage follows the "
        "signed custody events and the batch record.",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)

    def __init__(self, *args, stages=None, **kwargs):
        super().__init__(*args, **kwargs)
        offered = MANUAL_STAGES if stages is None else stages
        self.fields["status"].choices = [
            (value, label) for value, label in Order.Status.choices if value in offered
        ]


class PurposeForm(forms.Form):
    purpose = forms.CharField(max_length=300, label="Why do you need to see who this is?")


class LookupForm(forms.Form):
    scan = forms.CharField(max_length=100, label="Scan or type a COI")


class ScanForm(forms.Form):
    """The terminal's first and only question: scan a patient label or a bag label.
    ``patient`` is set when the page was opened for one patient: the scan must then be
    that patient's label, and any other is refused as a mix-up."""

    scan = forms.CharField(
        max_length=100,
        label="Scan the patient label or the bag",
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "class": "scan-input",
                "spellcheck": "false",
                "autocapitalize": "off",
            }
        ),
    )
    patient = forms.IntegerField(required=False, widget=forms.HiddenInput)


class ConfirmHandoffForm(forms.Form):
    """What the person confirms and signs after a scan. The patient follows from the scan and
    the site and shipment from the chain (re-derived on the server, and pinned here so that
    a change since the confirmation is refused); only the container, when nothing before
    names it, and the storage place are typed."""

    label_scan = forms.CharField(max_length=100, widget=forms.HiddenInput)
    kind = forms.ChoiceField(choices=EventKind.choices, widget=forms.HiddenInput)
    site = forms.IntegerField(widget=forms.HiddenInput)
    shipment = forms.IntegerField(required=False, widget=forms.HiddenInput)
    container_id = forms.CharField(
        max_length=64,
        required=False,
        label="Container or bag identifier",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    location = forms.CharField(
        max_length=100,
        required=False,
        label="Storage location",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    position = forms.CharField(
        max_length=50,
        required=False,
        label="Position",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


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
    logger_id = forms.CharField(
        max_length=64,
        required=False,
        help_text="Used for rows without a logger_id column. Times "
        "without a UTC offset are read in the origin "
        "site's time zone.",
    )
