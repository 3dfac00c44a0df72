"""Frames between `ProcessRedactionWorker` and its child: a 4-byte big-endian length, then a pickle."""

from __future__ import annotations

import pickle
import struct
from typing import IO, Any, Final

HEADER: Final = struct.Struct(">I")
MAX_FRAME: Final = 1 << 30
STATUS_OK: Final = "ok"


def encode(obj: object) -> bytes:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


def write_frame(out: IO[bytes], obj: object) -> None:
    out.write(encode(obj))
    out.flush()


def read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks, missing = [], size
    while missing:
        chunk = stream.read(missing)
        if not chunk:
            return None
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: IO[bytes]) -> Any:
    """The next frame's object; ``EOFError`` at the end of the stream."""
    header = read_exactly(stream, HEADER.size)
    if header is None:
        raise EOFError
    (size,) = HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes")
    data = read_exactly(stream, size)
    if data is None:
        raise EOFError
    return pickle.loads(data)  # frames come from our own parent process
