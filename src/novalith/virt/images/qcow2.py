"""The few facts of a qcow2 header this package needs, without a subprocess.

The image cache manager reads the backing file of every instance disk on each pass;
parsing 104 bytes of header is much cheaper than one ``qemu-img info`` per disk. The
fake driver writes an empty qcow2 as its snapshot when it keeps no real disks.

Header layout (big-endian, qcow2 versions 2 and 3): magic ``QFI\\xfb`` (0), version
(4), backing file offset u64 (8) and length u32 (16), cluster bits (20), virtual size
u64 (24), crypt method (32), L1 size (36), L1 offset u64 (40), refcount table offset
u64 (48) and its cluster count (56), snapshot count (60) and offset u64 (64).
"""

from __future__ import annotations

import math
import os
import struct

import msgspec

MAGIC = b"QFI\xfb"
_HEADER = struct.Struct(">4sIQIIQIIQQIIQ")  # the 72 bytes common to v2 and v3
_MAX_BACKING_NAME = 1023  # qemu's own limit


class Qcow2Header(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    virtual_size: int
    cluster_bits: int
    backing_file: str | None


def read_header(path: str) -> Qcow2Header | None:
    """The header of ``path`` if it is a qcow2 file, else None (raw, short, unreadable)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEADER.size)
            if len(head) < _HEADER.size or head[:4] != MAGIC:
                return None
            (_magic, version, bf_offset, bf_size, cluster_bits, size,
             *_rest) = _HEADER.unpack(head)
            backing = None
            if bf_offset and 0 < bf_size <= _MAX_BACKING_NAME:
                fh.seek(bf_offset)
                backing = fh.read(bf_size).decode("utf-8", errors="replace")
    except OSError:
        return None
    return Qcow2Header(version=version, virtual_size=size, cluster_bits=cluster_bits,
                       backing_file=backing)


def backing_file(path: str) -> str | None:
    header = read_header(path)
    return header.backing_file if header else None


def write_empty(path: str, virtual_size: int) -> None:
    """Write a valid, empty qcow2 (version 2, 64 KiB clusters) of ``virtual_size`` bytes.

    Layout: cluster 0 header, 1 refcount table, 2 refcount block, 3.. L1 table. Every
    guest cluster is unallocated and reads as zeros. ``qemu-img check`` accepts it.
    """
    if virtual_size <= 0:
        raise ValueError("virtual_size must be positive")
    cluster_bits = 16
    cluster = 1 << cluster_bits
    l1_size = math.ceil(virtual_size / (cluster * (cluster // 8)))
    l1_clusters = max(1, math.ceil(l1_size * 8 / cluster))
    total = 3 + l1_clusters
    header = _HEADER.pack(MAGIC, 2, 0, 0, cluster_bits, virtual_size, 0, l1_size,
                          3 * cluster, cluster, 1, 0, 0)
    refcount_table = struct.pack(">Q", 2 * cluster)
    refcount_block = struct.pack(f">{total}H", *([1] * total))
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(header)
            fh.seek(cluster)
            fh.write(refcount_table)
            fh.seek(2 * cluster)
            fh.write(refcount_block)
            fh.truncate(total * cluster)  # the L1 table: zeros, nothing allocated
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
