from django.conf import settings


def read_limited(uploaded) -> bytes:
    """Read an uploaded file, stopping one byte past the limit so oversize files never fill memory."""
    return uploaded.read(settings.ARENA_MAX_UPLOAD_BYTES + 1)
