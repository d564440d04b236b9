"""`Authorization: Bearer <agent token>` for the agent API.

Missing, unknown or revoked token → 401; a known token of an inactive agent → 403.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from traces.models import Agent
from traces.tokens import token_hash


class AgentPrincipal:
    """The request.user for agent requests: authenticated, never staff."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False

    def __init__(self, agent: Agent):
        self.agent = agent
        self.pk = None

    def __str__(self):
        return f"agent:{self.agent.name}"


class AgentInactive(exceptions.PermissionDenied):
    default_detail = "This agent is inactive; ask an admin to reactivate it."


class AgentTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        parts = header.split()
        if not parts:
            return None
        if parts[0].lower() != self.keyword.lower():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: expected 'Bearer <agent token>'.")
        agent = Agent.objects.filter(token_hash=token_hash(parts[1])).first()
        if agent is None:
            raise exceptions.AuthenticationFailed("Unknown agent token.")
        if agent.token_revoked:
            raise exceptions.AuthenticationFailed("This agent token has been revoked.")
        if not agent.active:
            raise AgentInactive()
        request.agent = agent
        return (AgentPrincipal(agent), agent)

    def authenticate_header(self, request):
        return f'{self.keyword} realm="agents"'


def request_agent(request) -> Agent | None:
    """The Agent behind an authenticated API request, or None for a session user."""
    return getattr(request.user, "agent", None)


class AgentTokenScheme(OpenApiAuthenticationExtension):
    """Documents the agent token in the OpenAPI schema (/api/schema/)."""

    target_class = AgentTokenAuthentication
    name = "agentToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An agent token: `Authorization: Bearer zk_…`"}
