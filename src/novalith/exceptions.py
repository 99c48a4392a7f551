"""Every error Novalith raises on purpose, in one hierarchy.

::

    NovalithError                      500  generic; message never shown to users
    ├── Invalid                        400  badRequest
    │   ├── ValidationError            400  a request field failed validation
    │   ├── InvalidMicroversion        400
    │   ├── ImageUnacceptable          400  image data unusable as a disk (format, backing file)
    │   └── FlavorDiskSmallerThanImage 400  root disk smaller than the image's virtual size
    ├── NotAuthenticated               401  missing, wrong or expired credentials
    ├── Forbidden                      403  the caller's role does not allow it
    │   └── QuotaExceeded              403
    ├── NotFound                       404  itemNotFound
    │   ├── InstanceNotFound, FlavorNotFound, ImageNotFound, ...
    ├── VersionNotAcceptable           406  microversion outside our range
    ├── Conflict                       409  conflictingRequest
    │   ├── InstanceInvalidState       409  action not allowed in the current state
    │   ├── NotSupported               409  the driver lacks the capability
    │   └── Duplicate                  409  unique name already taken
    ├── Gone                           410  deleted while being acted on (image upload)
    ├── PayloadTooLarge                413  over a size cap or a per-item quota
    ├── UnsupportedMediaType           415  wrong Content-Type for the route
    ├── NoValidHost                    (no HTTP use: becomes an instance fault)
    ├── BuildFailed, Rescheduled       (no HTTP use: a host could not, or would not, build
    │                                   an instance; the conductor reschedules it)
    ├── MigrationError                 500  a move step failed (becomes a fault)
    │   ├── ResizeError                     the driver cannot do this resize
    │   └── MigrationAborted                a live migration was aborted on request
    ├── (moves, 4xx) MigrationPreCheckError 400, ComputeServiceInUse 400,
    │   MigrationNotFound 404, InvalidMigrationState 400
    ├── DiskOperationFailed            500  qemu-img (or mkfs) failed on a host
    ├── ServiceUnavailable             503
    └── RPCTimeout                     504 (an RPC call got no answer in time)

Each class carries the HTTP status the API writes and a ``safe`` flag: a 4xx
message is shown as is, a 5xx message is replaced by a generic text with the
request id (the real message goes to the log).
"""

from __future__ import annotations


class NovalithError(Exception):
    """Base of every deliberate error; its message is safe to show when ``safe``."""

    status: int = 500
    safe: bool = False
    message: str = "An unknown error occurred."

    def __init__(self, message: str | None = None, **kwargs: object) -> None:
        if message is None:
            try:
                message = self.message % kwargs if kwargs else self.message
            except (KeyError, TypeError, ValueError):
                message = self.message
        self.kwargs = kwargs
        super().__init__(message)

    @property
    def text(self) -> str:
        return str(self)


class Invalid(NovalithError):
    status = 400
    safe = True
    message = "Unacceptable parameters."


class ValidationError(Invalid):
    message = "Invalid input for field/attribute %(field)s. %(detail)s"


class InvalidMicroversion(Invalid):
    message = "Version %(version)s is not a valid microversion."


class ImageUnacceptable(Invalid):
    message = "Image %(image_id)s is unacceptable: %(reason)s"


class FlavorDiskSmallerThanImage(Invalid):
    message = ("Flavor's disk is too small for requested image. Flavor disk is %(flavor_size)i "
               "bytes, image is %(image_size)i bytes.")


class NotAuthenticated(NovalithError):
    status = 401
    safe = True
    message = "The request you have made requires authentication."


class Forbidden(NovalithError):
    status = 403
    safe = True
    message = "Policy doesn't allow %(action)s to be performed."


class QuotaExceeded(Forbidden):
    message = "Quota exceeded for %(resource)s."


class NotFound(NovalithError):
    status = 404
    safe = True
    message = "Resource could not be found."


class InstanceNotFound(NotFound):
    message = "Instance %(instance_id)s could not be found."


class FlavorNotFound(NotFound):
    message = "Flavor %(flavor_id)s could not be found."


class ImageNotFound(NotFound):
    message = "Image %(image_id)s could not be found."


class ComputeHostNotFound(NotFound):
    message = "Compute host %(host)s could not be found."


class HypervisorNotFound(NotFound):
    message = "Hypervisor %(hypervisor)s could not be found."


class ServiceNotFound(NotFound):
    message = "Service %(service_id)s could not be found."


class ProjectNotFound(NotFound):
    message = "Could not find project: %(project_id)s."


class UserNotFound(NotFound):
    message = "Could not find user: %(user_id)s."


class TokenNotFound(NotFound):
    message = "Could not find token: %(token_id)s."


class VersionNotAcceptable(NovalithError):
    status = 406
    safe = True
    message = "Version %(version)s is not supported by the API."


class Gone(NovalithError):
    status = 410
    safe = True
    message = "The resource is gone."


class PayloadTooLarge(NovalithError):
    status = 413
    safe = True
    message = "The request is larger than this cloud accepts."


class UnsupportedMediaType(NovalithError):
    status = 415
    safe = True
    message = "Unsupported Content-Type %(content_type)s."


class Conflict(NovalithError):
    status = 409
    safe = True
    message = "There was a conflict when trying to complete your request."


class InstanceInvalidState(Conflict):
    message = "Cannot '%(action)s' instance %(instance_id)s while it is in %(attr)s %(state)s"


class NotSupported(Conflict):
    """The compute driver of the instance's host lacks the capability."""

    message = "The %(operation)s operation is not supported by the %(driver)s driver."


class Duplicate(Conflict):
    message = "%(what)s with %(key)s %(value)s already exists."


class NoValidHost(NovalithError):
    """No host passed the filters, or every candidate's claim failed."""

    status = 500
    safe = True
    message = "No valid host was found. %(reason)s"


class BuildFailed(NovalithError):
    """A driver failed to spawn; the conductor may reschedule."""

    message = "Build of instance %(instance_uuid)s failed: %(reason)s"


class Rescheduled(NovalithError):
    """A compute host refused a build before starting it (the late server-group
    check); the conductor reschedules it to another host."""

    message = "Build of instance %(instance_uuid)s was re-scheduled: %(reason)s"


class DiskOperationFailed(NovalithError):
    """A disk tool (qemu-img, mkfs, mkswap) failed; the message names the command."""

    message = "Disk operation failed: %(reason)s"


class ServiceUnavailable(NovalithError):
    status = 503
    safe = True
    message = "The service is temporarily unavailable."


class RPCTimeout(NovalithError):
    status = 504
    safe = True
    message = "Timed out waiting for a reply from %(topic)s.%(method)s."


class UnknownPlugin(NovalithError):
    """A configured driver, filter or weigher name is not installed."""

    message = "Unknown %(kind)s %(name)r; installed: %(available)s"


# ---- moves (resize, migrations, evacuation) -----------------------------------------------

class MigrationError(NovalithError):
    """A step of a move failed; the instance gets a fault with this message."""

    safe = True
    message = "Migration error: %(reason)s"


class ResizeError(MigrationError):
    message = "Resize error: %(reason)s"


class MigrationAborted(MigrationError):
    message = "Migration of instance %(instance_uuid)s was aborted."


class MigrationPreCheckError(Invalid):
    message = "Migration pre-check error: %(reason)s"


class ComputeServiceInUse(Invalid):
    message = "Compute service of %(host)s is still in use."


class InvalidMigrationState(Invalid):
    message = ("Migration %(migration_id)s state of instance %(instance_uuid)s is %(state)s. "
               "Cannot %(method)s while the migration is in this state.")


class MigrationNotFound(NotFound):
    message = "Migration %(migration_id)s could not be found."
