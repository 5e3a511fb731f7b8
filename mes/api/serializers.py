from django.apps import apps
from rest_framework import serializers

from mes.apps import OUR_APPS
from mes.models import ElectronicSignature, Meaning, Site, User


class SiteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = ["id", "code", "name", "kind", "time_zone", "facility_identification_number",
                  "is_active"]


class UserSerializer(serializers.ModelSerializer):
    roles = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "full_name", "email", "is_active", "roles"]

    def get_roles(self, user) -> list[str]:
        return sorted(group.name for group in user.groups.all())


class SignatureSerializer(serializers.ModelSerializer):
    record_type = serializers.SerializerMethodField()
    meaning_display = serializers.CharField(source="get_meaning_display", read_only=True)

    class Meta:
        model = ElectronicSignature
        fields = ["id", "record_type", "object_id", "printed_name", "username", "meaning",
                  "meaning_display", "reason", "signed_at", "record_hash"]

    def get_record_type(self, signature) -> str:
        return f"{signature.content_type.app_label}.{signature.content_type.model}"


class SignRequestSerializer(serializers.Serializer):
    record_type = serializers.CharField(help_text="app_label.model, e.g. mes.accesschange")
    record_id = serializers.IntegerField(min_value=1)
    meaning = serializers.ChoiceField(choices=Meaning.choices)
    password = serializers.CharField(write_only=True, trim_whitespace=False)
    reason = serializers.CharField(required=False, allow_blank=True, default="")

    def validate_record_type(self, value: str):
        app_label, _, model_name = value.partition(".")
        if app_label not in OUR_APPS:
            raise serializers.ValidationError("Unknown record type.")
        try:
            return apps.get_model(app_label, model_name)
        except LookupError as exc:
            raise serializers.ValidationError("Unknown record type.") from exc


class VerificationSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    detail = serializers.CharField()


class FieldChangeSerializer(serializers.Serializer):
    history_id = serializers.IntegerField()
    when = serializers.DateTimeField()
    who = serializers.CharField()
    kind = serializers.CharField()
    field = serializers.CharField()
    old = serializers.CharField()
    new = serializers.CharField()
    why = serializers.CharField()
