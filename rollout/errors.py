"""Service errors as text that names the field (commands, the no-JS dashboard form), as the API's 400 does."""

from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from zeke_rft.errors import ApplicationError


def validation_text(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
    return "; ".join(exc.messages)


@contextmanager
def command_errors():
    try:
        yield
    except ApplicationError as exc:
        raise CommandError(exc.message) from None
    except ValidationError as exc:
        raise CommandError(validation_text(exc)) from None
