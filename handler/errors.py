"""Error types that decide how a failure is reported.

InputError: the caller sent something wrong; the message says what to fix, `field` names the request
field at fault (the contract's name) where there is one; the worker stays healthy.
DeliveryError: the result could not be delivered (bucket missing or unreachable); the job fails.
NotFoundError: what the request names does not exist (a stored voice, a consent).
UnavailableError: something the worker depends on (the voice store) cannot be reached now; retry.
NotConfiguredError: the request needs something this deployment has not set up (a voice store).
StartupError: the worker cannot become ready; the process exits non-zero with this one line.
How each becomes a typed failure for the front doors: handler.events.
"""


class InputError(ValueError):
    """A bad request. The message is shown to the caller as-is."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class DeliveryError(RuntimeError):
    """The audio was made but could not be handed back (upload failed, bucket not configured)."""


class NotFoundError(LookupError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field

    def __str__(self) -> str:  # LookupError's subclass KeyError would quote it; say it plainly
        return self.args[0]


class UnavailableError(RuntimeError):
    """A dependency of the worker (the voice store) failed; the request may succeed if retried."""


class NotConfiguredError(RuntimeError):
    """The operator has not configured what this request needs; the message says how."""


class StartupError(RuntimeError):
    """The worker cannot start: a missing or corrupted file, no GPU when one is required, ..."""


def is_cuda_failure(exc: BaseException) -> bool:
    """True for errors after which this process's GPU state cannot be trusted (OOM, CUDA faults)."""
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = f"{type(exc).__name__}: {exc}"
    return any(mark in text for mark in ("CUDA error", "CUDA out of memory", "CUBLAS_STATUS", "cuDNN error"))
