"""Writing files through Beam's FileSystems, so that local paths, gs:// and other URLs work."""

from __future__ import annotations

import uuid

from apache_beam.io.filesystems import FileSystems


def write_bytes_atomically(path: str, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then rename it into place: a reader sees
    the old file or the whole new one, never a part."""
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    with FileSystems.create(tmp) as f:
        f.write(data)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([tmp], [path])
