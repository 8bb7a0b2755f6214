"""Keep numba's on-disk cache honest for kernels that compile in helpers from other files.

numba's cache (``cache=True``) checks only the timestamp of the file that defines a kernel. A
kernel that calls a jitted helper from another module has the helper's machine code inside its
own cache entry, so after that module is edited it would keep running the old helper until the
cache is cleared. :func:`invalidate_if_changed` stamps the sources a module depends on and
removes the module's cached kernels when the stamp changes. Only the in-tree cache
(``__pycache__`` next to the source, numba's choice for a writable checkout) is handled: an
installed, read-only package's sources do not change.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["invalidate_if_changed"]


def invalidate_if_changed(module_file: str, *dependencies: str) -> bool:
    """Remove ``module_file``'s cached numba kernels if any of ``dependencies`` changed since the last call.

    Returns whether the cache was cleared. Cheap (a hash of a few source files), so modules call it
    at import, before their first kernel runs.
    """
    source = Path(module_file)
    cache = source.parent / "__pycache__"
    digest = hashlib.sha256()
    for dep in dependencies:
        digest.update(Path(dep).read_bytes())
    marker = cache / f"{source.stem}.deps-{digest.hexdigest()[:16]}"
    if marker.exists():
        return False
    try:
        for stale in [*cache.glob(f"{source.stem}.*.nbi"), *cache.glob(f"{source.stem}.*.nbc")]:
            stale.unlink(missing_ok=True)
        for old in cache.glob(f"{source.stem}.deps-*"):
            old.unlink(missing_ok=True)
        cache.mkdir(exist_ok=True)
        marker.touch()
    except OSError:  # read-only checkout: numba caches elsewhere, nothing here to clear
        return False
    return True
