"""Image data stores: the interface (:mod:`.base`) and the built-in filesystem store.

``load_store(config)`` builds the store ``[glance_store] default_store`` names:
``file`` is built in; any other name is looked up under the
``novalith.image_stores`` entry point (a class taking the image config).
"""

from __future__ import annotations

from typing import Any

from novalith import exceptions
from novalith.image.stores.base import (
    CHUNK_SIZE,
    ImageDataNotFound,
    Store,
    StoredData,
    StoreError,
    StoreReader,
    StoreWriter,
)
from novalith.image.stores.filesystem import FilesystemStore

NAMESPACE = "novalith.image_stores"

__all__ = ["CHUNK_SIZE", "FilesystemStore", "ImageDataNotFound", "Store", "StoreError",
           "StoreReader", "StoreWriter", "StoredData", "load_store"]


def load_store(name: str, filesystem_store_datadir: str, config: Any = None) -> Store:
    if name == "file":
        return FilesystemStore(filesystem_store_datadir)
    from stevedore import driver
    from stevedore.exception import NoMatches

    try:
        mgr: driver.DriverManager = driver.DriverManager(NAMESPACE, name, invoke_on_load=True,
                                                         invoke_args=(config,))
    except NoMatches:
        from stevedore import ExtensionManager

        available = ", ".join(sorted({"file", *ExtensionManager(NAMESPACE).names()}))
        raise exceptions.UnknownPlugin(kind="image store", name=name,
                                       available=available) from None
    if not isinstance(mgr.driver, Store):
        raise exceptions.UnknownPlugin(kind="image store", name=name, available="file")
    return mgr.driver
