"""GET /api/policy — which model an agent should use for a conversation."""

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from rollout.routing import policy_route


class PolicyApi(APIView):
    class OutputSerializer(serializers.Serializer):
        model = serializers.CharField()
        policy_id = serializers.IntegerField()
        rollout_id = serializers.IntegerField(allow_null=True)
        arm = serializers.CharField()
        config = serializers.JSONField(help_text="How to call the model: system prompt version, temperature, ...")
        shadow_model = serializers.CharField(required=False)
        shadow_policy_id = serializers.IntegerField(required=False)
        shadow_config = serializers.JSONField(required=False)
        # Set for a self-served open-weights policy: the agent sends its chat calls there.
        base_url = serializers.CharField(required=False)
        shadow_base_url = serializers.CharField(required=False)

    @extend_schema(
        parameters=[
            OpenApiParameter("modality", str, required=True, enum=["chat", "voice", "sms"]),
            OpenApiParameter("conversation_id", str, required=True, description="Sticky: same arm for its lifetime"),
        ],
        responses={200: OutputSerializer, 400: inline_serializer("PolicyError", {"modality": serializers.ListField()})},
    )
    def get(self, request):
        params = {name: (request.query_params.get(name) or "").strip() for name in ("modality", "conversation_id")}
        missing = {name: "this query parameter is required" for name, value in params.items() if not value}
        if missing:
            raise ValidationError(missing)
        answer = policy_route(modality=params["modality"], conversation_id=params["conversation_id"])
        return Response(self.OutputSerializer(answer).data)
