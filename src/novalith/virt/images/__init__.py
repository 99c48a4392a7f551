"""Instance disks from images, for any driver that keeps disks as files on the host.

* :mod:`.qemu_img` runs ``qemu-img`` (info, convert, create) with typed results;
* :mod:`.qcow2` reads a qcow2 header (backing file, virtual size) and writes an
  empty qcow2 without a subprocess;
* :mod:`.cache` keeps one copy of each image per host in
  ``<instances_path>/_base/<sha1 of image id>`` and prunes unused copies;
* :mod:`.disks` lays out an instance's disks in ``<instances_path>/<uuid>/``:
  ``disk`` (qcow2 overlay on the cached base), ``disk.eph0``, ``disk.swap``.

Drivers use these; compute never does. The cache gets image data through a
``fetch(image_id, dest)`` callable, which a driver wires to
:meth:`~novalith.virt.driver.ComputeCallbacks.fetch_image`.
"""
