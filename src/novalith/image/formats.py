"""What the first bytes of image data say about it (its virtual size), read in passing."""

from __future__ import annotations

QCOW2_MAGIC = b"QFI\xfb"
#: Bytes of the data's head that :func:`virtual_size` needs.
HEAD_BYTES = 512


def virtual_size(disk_format: str | None, head: bytes, size: int) -> int | None:
    """The disk size a guest sees, for the formats whose header says it plainly:
    raw (the data size) and qcow2 (header field at offset 24). None otherwise, or
    when the data does not look like its declared format."""
    if disk_format == "raw":
        return size
    if disk_format == "qcow2" and len(head) >= 32 and head[:4] == QCOW2_MAGIC:
        return int.from_bytes(head[24:32], "big")
    return None
