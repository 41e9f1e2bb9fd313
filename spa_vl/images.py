"""Image bytes checks that never decode: find rows whose bytes are not an image at all.

SPA-VL stores images as the ``datasets`` Image struct ``{bytes, path}``. Decoding happens only
when a user reads a row; a corrupt row would then fail with a message that names neither the row
nor the file, so the builder checks the leading bytes (magic numbers) of every image, vectorised,
and warns with the file and row numbers up front.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Leading bytes of the formats PIL reads that SPA-VL uses (JPEG, PNG, GIF, BMP, WEBP, TIFF).
IMAGE_MAGIC: tuple[bytes, ...] = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"RIFF", b"II*\x00", b"MM\x00*")


def undecodable_rows(images: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Positions of Image structs whose bytes are missing (and no path) or start like no image format."""
    if isinstance(images, pa.ChunkedArray):
        images = images.combine_chunks()
    if not pa.types.is_struct(images.type) or images.type.get_field_index("bytes") < 0:
        return np.zeros(0, dtype=np.int64)
    data = images.field("bytes")
    known = pa.array(np.zeros(len(images), dtype=bool))
    for magic in IMAGE_MAGIC:
        head = pc.binary_slice(data, 0, len(magic))
        known = pc.or_(known, pc.fill_null(pc.equal(head, pa.scalar(magic, pa.binary())), False))
    has_path = pc.is_valid(images.field("path")) if images.type.get_field_index("path") >= 0 else pa.array(np.zeros(len(images), dtype=bool))
    missing = pc.and_(pc.is_null(data), pc.invert(has_path))
    bad = pc.or_(pc.and_(pc.is_valid(data), pc.invert(known)), missing)
    return np.flatnonzero(bad.to_numpy(zero_copy_only=False))
