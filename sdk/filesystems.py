"""Result storage, where Prefect users look for it.

``LocalFileSystem(basepath=...)`` keeps results as files under ``basepath``; give it as
``@task(result_storage=...)`` or ``@flow(result_storage=...)``. Naming a storage there also
makes this process trust it, so ``state.result()`` reads back what the flow wrote; another
process that only reads lists it in ``RUNPLANE_RESULTS_TRUSTED_STORAGE`` (or calls
``trust_storage``)::

    from runplane import flow, task
    from runplane.filesystems import LocalFileSystem

    @task(result_storage=LocalFileSystem(basepath="/shared/results"))
    def extract() -> list[int]:
        return [1, 2, 3]
"""

from __future__ import annotations

from runplane._runtime.results import (
    LocalFileSystem,
    ResultStorage,
    register_storage_scheme,
    trust_storage,
)

__all__ = ["LocalFileSystem", "ResultStorage", "register_storage_scheme", "trust_storage"]
