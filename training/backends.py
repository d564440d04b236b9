"""The trainer behind a small interface, so another RFT backend can plug in.

Every method returns plain dicts (the backend's JSON), never SDK objects: the SDK's
types lag the API (a `multi` grader's `graders` dict, the `paused` status).
Errors: BackendRejected for a request the backend refused (4xx — permanent),
BackendUnavailable for transient trouble left after the client's own retries.
"""

from typing import Protocol

from django.conf import settings

from zeke_rft.errors import ApplicationError


class BackendRejected(ApplicationError):
    """The backend refused the request (bad grader, bad file, bad state)."""


class BackendUnavailable(ApplicationError):
    """Rate limits, 5xx or network errors that outlasted the client's retries."""


class RFTBackend(Protocol):
    name: str

    def validate_grader(self, grader: dict) -> None: ...

    def upload(self, *, filename: str, data: bytes) -> str: ...

    def create_job(
        self,
        *,
        model: str,
        training_file: str,
        validation_file: str | None,
        method: dict,
        suffix: str,
        metadata: dict,
        seed: int | None,
    ) -> dict: ...

    def find_job(self, *, metadata: dict) -> dict | None: ...

    def retrieve(self, job_id: str) -> dict: ...

    def events(self, job_id: str) -> list[dict]: ...

    def checkpoints(self, job_id: str) -> list[dict]: ...

    def cancel(self, job_id: str) -> dict: ...

    def pause(self, job_id: str) -> dict: ...

    def resume(self, job_id: str) -> dict: ...


def _dump(obj) -> dict:
    # warnings=False: the SDK's types lag the API (a multi grader inside `method`), the JSON is what counts.
    return obj.to_dict(mode="json", warnings=False) if hasattr(obj, "to_dict") else dict(obj)


class OpenAIBackend:
    """OpenAI or Azure OpenAI fine-tuning (reinforcement method) through the `openai` client."""

    name = "openai"

    def __init__(self, client=None):
        from zeke_rft.openai_client import openai_client

        self.client = client or openai_client()

    def _call(self, what: str, function, *args, **kwargs):
        import openai

        try:
            return function(*args, **kwargs)
        except openai.APIStatusError as exc:
            message = _error_message(exc)
            if exc.status_code == 429 or exc.status_code >= 500:
                raise BackendUnavailable(f"{what}: backend answered {exc.status_code}: {message}", status=503) from exc
            raise BackendRejected(f"{what}: backend rejected it ({exc.status_code}): {message}", status=400) from exc
        except openai.APIConnectionError as exc:
            raise BackendUnavailable(f"{what}: cannot reach the backend: {exc}", status=503) from exc

    def validate_grader(self, grader: dict) -> None:
        self._call("grader validation", self.client.fine_tuning.alpha.graders.validate, grader=grader)

    def upload(self, *, filename: str, data: bytes) -> str:
        file = self._call(f"upload of {filename}", self.client.files.create, file=(filename, data), purpose="fine-tune")
        return file.id

    def create_job(self, *, model, training_file, validation_file, method, suffix, metadata, seed) -> dict:
        kwargs = {"model": model, "training_file": training_file, "method": method, "suffix": suffix}
        kwargs.update({"metadata": metadata, "seed": seed} if seed is not None else {"metadata": metadata})
        if validation_file:
            kwargs["validation_file"] = validation_file
        return _dump(self._call("job creation", self.client.fine_tuning.jobs.create, **kwargs))

    def find_job(self, *, metadata: dict) -> dict | None:
        """The newest job whose metadata contains `metadata` (filtering on our side too: not every backend filters)."""
        pages = self._call("job list", self.client.fine_tuning.jobs.list, limit=50, metadata=metadata)
        for job in pages:
            job = _dump(job)
            if all((job.get("metadata") or {}).get(key) == value for key, value in metadata.items()):
                return job
        return None

    def retrieve(self, job_id: str) -> dict:
        return _dump(self._call("job status", self.client.fine_tuning.jobs.retrieve, job_id))

    def events(self, job_id: str) -> list[dict]:
        pages = self._call("job events", self.client.fine_tuning.jobs.list_events, job_id, limit=100)
        return [_dump(event) for event in self._call("job events", list, pages)]

    def checkpoints(self, job_id: str) -> list[dict]:
        pages = self._call("job checkpoints", self.client.fine_tuning.jobs.checkpoints.list, job_id, limit=100)
        return [_dump(checkpoint) for checkpoint in self._call("job checkpoints", list, pages)]

    def cancel(self, job_id: str) -> dict:
        return _dump(self._call("cancel", self.client.fine_tuning.jobs.cancel, job_id))

    def pause(self, job_id: str) -> dict:
        return _dump(self._call("pause", self.client.fine_tuning.jobs.pause, job_id))

    def resume(self, job_id: str) -> dict:
        return _dump(self._call("resume", self.client.fine_tuning.jobs.resume, job_id))


def _error_message(exc) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else body
    return str(error.get("message") or exc.message)


def _trl_backend():
    # Imported on use: the open-weights backend lives in its own package and needs the training extra.
    from training.openweights.backend import TRLBackend

    return TRLBackend()


BACKENDS = {"openai": OpenAIBackend, "trl": _trl_backend}


def get_backend(name: str | None = None) -> RFTBackend:
    """The backend settings.TRAINING_BACKEND names; refuses clearly when it is unknown or not configured."""
    name = name or settings.TRAINING_BACKEND
    if name not in BACKENDS:
        raise ApplicationError(f"unknown training backend {name!r} (known: {', '.join(sorted(BACKENDS))})")
    return BACKENDS[name]()
