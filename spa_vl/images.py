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

#: First two bytes of the formats PIL reads that SPA-VL uses: JPEG, PNG, GIF, BMP, WEBP (RIFF), TIFF.
#: Two bytes are enough to tell image bytes from text, HTML error pages or zeros, in one kernel.
IMAGE_MAGIC: tuple[bytes, ...] = (b"\xff\xd8", b"\x89P", b"GI", b"BM", b"RI", b"II", b"MM")


def undecodable_rows(images: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Positions of Image structs whose bytes are missing (and no path) or start like no image format.

    Only the first two bytes of each image are compared with :data:`IMAGE_MAGIC`; nothing is decoded.

    Parameters
    ----------
    images : pyarrow.Array or pyarrow.ChunkedArray of struct<bytes, path>, shape (n,)
        An ``image`` column. A chunked array is checked chunk by chunk (never combined); a column
        that is not a struct with a ``bytes`` field has no bad rows.

    Returns
    -------
    numpy.ndarray of int64, shape (k,)
        Ascending row positions (0 .. n-1) whose bytes are present but not an image, or null with
        no path either; empty when every row is fine.
    """
    if isinstance(images, pa.ChunkedArray):  # chunk by chunk: combining would copy every image's bytes
        found, offset = [], 0
        for chunk in images.chunks:
            found.append(undecodable_rows(chunk) + offset)
            offset += len(chunk)
        return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    if not pa.types.is_struct(images.type) or images.type.get_field_index("bytes") < 0:
        return np.zeros(0, dtype=np.int64)
    data = images.field("bytes")
    head = pc.binary_slice(data, 0, 2)
    known = pc.is_in(head, value_set=pa.array(IMAGE_MAGIC, head.type))
    has_path = pc.is_valid(images.field("path")) if images.type.get_field_index("path") >= 0 else pa.array(np.zeros(len(images), dtype=bool))
    bad = pc.or_(pc.and_(pc.is_valid(data), pc.invert(known)), pc.and_(pc.is_null(data), pc.invert(has_path)))
    # indices_nonzero + zero-copy: a boolean to_numpy would go through pandas
    return pc.indices_nonzero(pc.fill_null(bad, False)).to_numpy(zero_copy_only=True).astype(np.int64)
