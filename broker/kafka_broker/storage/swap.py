"""The files of a segment swap (the cleaner replacing old segments by a cleaned one) and the undoing
or finishing of a swap a crash interrupted.

A swap writes the new ``.log`` in the scratch directory ``.cleaned/``, moves it to
``<base>.log.swap``, renames the old segments' files with the ``.retired`` suffix, then renames
``<base>.log.swap`` to ``<base>.log`` — the commit point (:func:`kafka_broker.storage.cleaner.swap_in`).

Recovery (:func:`recover_interrupted_swap`, run when a log is opened): the scratch directory is
removed; a ``.swap`` file means the commit did not happen — ``.retired`` files get their names back
and the ``.swap`` goes; ``.retired`` files without a ``.swap`` belong to a committed swap and are
removed. A segment whose index did not make it is re-indexed by the normal load.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from kafka_broker.storage.checkpoint import fsync_dir

log = logging.getLogger(__name__)

CLEANED_DIR = ".cleaned"
SWAP_SUFFIX = ".swap"
RETIRED_SUFFIX = ".retired"


def recover_interrupted_swap(directory: Path) -> None:
    """Finish or undo a swap interrupted by a crash (see the module docstring); called on log load."""
    scratch = directory / CLEANED_DIR
    if scratch.is_dir():
        shutil.rmtree(scratch, ignore_errors=True)
    if not directory.is_dir():
        return
    swaps = [p for p in directory.iterdir() if p.name.endswith(SWAP_SUFFIX)]
    retired = [p for p in directory.iterdir() if p.name.endswith(RETIRED_SUFFIX)]
    if swaps:
        for path in retired:
            os.replace(path, path.with_name(path.name.removesuffix(RETIRED_SUFFIX)))
        for path in swaps:
            path.unlink(missing_ok=True)
        log.warning("%s: rolled back a cleaner swap interrupted before its commit", directory.name)
    else:
        for path in retired:
            path.unlink(missing_ok=True)
    if swaps or retired:
        fsync_dir(directory)
