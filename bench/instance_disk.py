"""Time to create an instance's disks from an image already in the host's cache.

Builds an image cache in a temporary instances_path, caches one image (the first,
untimed call downloads it: a local file copy stands in for the image service), then
times ``novalith.virt.images.disks.create`` for fresh instance uuids: the lock on the
base, the mtime touch, and ``qemu-img create -f qcow2 -b <base> -F raw`` grown to the
flavor's root disk (and the ephemeral and swap overlays for the larger flavor, whose
blank bases are also made once, untimed). Each created directory is removed outside the
timing.

    python bench/instance_disk.py [--runs 200] [--image-mib 256] [--threads 1 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import threading
import time
import uuid

from novalith.objects.specs import FlavorSpec, ImageMeta, InstanceSpec
from novalith.virt.images import disks, qemu_img
from novalith.virt.images.cache import CacheSettings, ImageCache

FLAVORS = {
    "root only (m1.small: 20 GiB)": FlavorSpec(flavorid="2", name="m1.small", memory_mb=2048,
                                               vcpus=1, root_gb=20),
    "root + 10 GiB ephemeral + 1 GiB swap": FlavorSpec(
        flavorid="x", name="x", memory_mb=2048, vcpus=1, root_gb=20, ephemeral_gb=10,
        swap=1024),
}


def instance(image_id: str, flavor: FlavorSpec) -> InstanceSpec:
    return InstanceSpec(uuid=str(uuid.uuid4()), id=1, name="instance-00000001",
                        display_name="bench", hostname="bench", project_id="p", user_id="u",
                        flavor=flavor, image=ImageMeta(id=image_id, disk_format="raw"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run(cache: ImageCache, image_id: str, flavor: FlavorSpec, runs: int, threads: int
        ) -> list[float]:
    """Per-creation latencies (ms) with ``threads`` creating at once."""
    timings: list[float] = []
    lock = threading.Lock()
    per_thread = max(1, runs // threads)

    def worker() -> None:
        for _ in range(per_thread):
            spec = instance(image_id, flavor)
            start = time.perf_counter()
            made = disks.create(cache, spec)
            elapsed = (time.perf_counter() - start) * 1000
            shutil.rmtree(made.directory)
            with lock:
                timings.append(elapsed)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--image-mib", type=int, default=256)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    if not qemu_img.available():
        raise SystemExit("qemu-img is needed (apt-get install qemu-utils)")
    root = tempfile.mkdtemp(prefix="novalith-bench-disk-")
    try:
        source = os.path.join(root, "image.raw")
        with open(source, "wb") as fh:  # real data, not a sparse file
            block = os.urandom(1 << 20)
            for _ in range(args.image_mib):
                fh.write(block)
        image_id = str(uuid.uuid4())
        cache = ImageCache(CacheSettings(instances_path=os.path.join(root, "instances")),
                           lambda _id, dest: shutil.copyfile(source, dest))
        start = time.perf_counter()
        cache.ensure(image_id, "raw")
        print(f"{qemu_img.version()}; first use (copy + probe of {args.image_mib} MiB): "
              f"{(time.perf_counter() - start) * 1000:.0f} ms, untimed below")
        base = cache.ensure(image_id, "raw")
        alone = []
        for n in range(args.runs):  # the floor: the one qemu-img call, nothing around it
            dest = os.path.join(root, f"alone-{n}.qcow2")
            start = time.perf_counter()
            qemu_img.create_overlay(dest, base.path, "raw", 20 << 30)
            alone.append((time.perf_counter() - start) * 1000)
            os.unlink(dest)
        print(f"{'qemu-img create alone (the floor)':40s} threads=1: n={len(alone)} "
              f"p50={statistics.median(alone):.1f} ms p95={percentile(alone, 0.95):.1f} ms "
              f"max={max(alone):.1f} ms")
        for label, flavor in FLAVORS.items():
            run(cache, image_id, flavor, 2, 1)  # warm: blank bases, page cache
            for threads in args.threads:
                t = run(cache, image_id, flavor, args.runs, threads)
                print(f"{label:40s} threads={threads}: n={len(t)} "
                      f"p50={statistics.median(t):.1f} ms p95={percentile(t, 0.95):.1f} ms "
                      f"max={max(t):.1f} ms")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
