"""Index snapshots in the instance folder: written atomically, trusted only on their manifest's
word.

A snapshot is the bytes an index saves (`VectorIndex.save`) in a file named by
their digest, and a manifest naming that file, each written to a temp file,
fsynced and renamed. The manifest says what the snapshot was made from (model,
dimension, backend, database, change-log position); anything on disk that does
not match it means a rebuild, never a crash or a wrong answer.
"""

import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from search.index import DEFAULT_VECTOR_INDEX, SnapshotError, VectorIndex, vector_index_type

SNAPSHOT_FORMAT = 1


@dataclass
class Manifest:
    model: str
    dim: int
    count: int  # vectors in the index
    last_seq: int  # the change log position the index reflects
    index_type: str  # the index's kind: flat, ivf
    index_file: str
    sha256: str
    format: int = SNAPSHOT_FORMAT
    # The identity of the database the index was built from (`lessons.backup`); a snapshot
    # from before identities, or made with none, names "" and is never trusted.
    database: str = ""
    backend: str = DEFAULT_VECTOR_INDEX  # the implementation that saved it (search.index)


def save_snapshot(index: VectorIndex, folder: Path, model: str, last_seq: int,
                  database: str = "", backend: str = DEFAULT_VECTOR_INDEX) -> Manifest:
    """Write the index, then the manifest naming it, each to a temp file, fsynced and renamed."""
    folder.mkdir(parents=True, exist_ok=True)
    data = index.save()
    digest = hashlib.sha256(data).hexdigest()
    index_file = f"vectors-{digest[:16]}.{backend}"
    write_atomically(folder / index_file, data)
    manifest = Manifest(model, index.dim, index.count, last_seq, index.kind, index_file, digest,
                        database=database, backend=backend)
    write_atomically(folder / "manifest.json", json.dumps(asdict(manifest)).encode())
    for old in folder.glob("vectors-*"):
        if old.name != index_file:
            old.unlink(missing_ok=True)
    return manifest


def load_snapshot(folder: Path, model: str, dim: int, backend: str = DEFAULT_VECTOR_INDEX
                  ) -> tuple[VectorIndex, Manifest]:
    """The snapshot in `folder`, checked against its manifest, or `SnapshotError`."""
    manifest = read_manifest(folder)
    try:
        data = (folder / manifest.index_file).read_bytes()
    except OSError as error:
        raise SnapshotError(f"the index file is missing: {error}") from error
    if manifest.format != SNAPSHOT_FORMAT or manifest.model != model or manifest.dim != dim:
        raise SnapshotError("the snapshot was made for another model or format")
    if manifest.backend != backend:
        raise SnapshotError(f"the snapshot was made by the {manifest.backend} index")
    if hashlib.sha256(data).hexdigest() != manifest.sha256:
        raise SnapshotError("the index file does not match its manifest")
    index = vector_index_type(backend).load(data, dim)
    if index.count != manifest.count or index.dim != dim or index.kind != manifest.index_type:
        raise SnapshotError("the index does not hold what its manifest says")
    return index, manifest


def check_origin(manifest: Manifest, database: str, newest: int) -> None:
    """`SnapshotError` unless the snapshot was made from this database, at most as far as
    its change log goes now."""
    # A restore gives the database a new identity: positions in the change log of the
    # database before it say nothing about the one after.
    if manifest.database != database:
        raise SnapshotError("the snapshot was made for another database (a restore?)")
    if manifest.last_seq > newest:
        raise SnapshotError("the snapshot is newer than the database (a restore?)")


def read_manifest(folder: Path) -> Manifest:
    """The manifest in `folder`, or `SnapshotError`."""
    try:
        return Manifest(**json.loads((folder / "manifest.json").read_text()))
    except FileNotFoundError:
        raise SnapshotError("no snapshot yet") from None
    except (OSError, ValueError, TypeError) as error:
        raise SnapshotError(f"the manifest is unreadable: {error}") from error


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, rename over `path`, fsync the folder."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def remove_stale_temp_files(folder: Path, older_than: float = 600) -> None:
    """Temp files left by a writer killed mid-write (young ones may still be being written)."""
    now = time.time()
    for temp in folder.glob(".*.tmp"):
        try:
            if now - temp.stat().st_mtime > older_than:
                temp.unlink()
        except FileNotFoundError:
            pass
