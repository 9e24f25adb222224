"""The control socket to the client process that started this script.

Frames are a 4-byte little-endian length and a JSON object; shared-memory regions travel
beside a frame as file descriptors (SCM_RIGHTS). The client's side is
plugins/executors/python/control_channel.cpp.
"""

from __future__ import annotations

import json
import mmap
import os
import socket
import struct
from typing import Any

import torch

#: The largest control frame either side accepts.
MAX_FRAME_BYTES = 64 << 20
#: dtype names on the wire (the client's table in python_executor.cpp).
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int64": torch.int64,
    "int32": torch.int32,
    "int16": torch.int16,
    "int8": torch.int8,
    "uint8": torch.uint8,
    "bool": torch.bool,
}
DTYPE_NAMES: dict[torch.dtype, str] = {v: k for k, v in DTYPES.items()}


class Channel:
    """One connected control socket."""

    def __init__(self, path: str) -> None:
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.connect(path)

    def send(self, body: dict[str, Any], fds: list[int] | None = None) -> None:
        data = json.dumps(body).encode()
        frame = struct.pack("<I", len(data)) + data
        if fds:
            sent = socket.send_fds(self._socket, [frame], fds)
            frame = frame[sent:]
        if frame:
            self._socket.sendall(frame)

    def receive(self) -> tuple[dict[str, Any], list[int]]:
        """The next frame and the descriptors that came with it (ours to close)."""
        fds: list[int] = []
        header = self._read(4, fds)
        (n,) = struct.unpack("<I", header)
        if n > MAX_FRAME_BYTES:
            raise ConnectionError(f"the client announced a control frame of {n} bytes")
        body = json.loads(self._read(n, fds))
        return body, fds

    def _read(self, n: int, fds: list[int]) -> bytes:
        data = b""
        while len(data) < n:
            chunk, got, _flags, _addr = socket.recv_fds(self._socket, n - len(data), 4)
            fds.extend(got)
            if not chunk:
                raise ConnectionError("the client process closed the control socket")
            data += chunk
        return data


class Region:
    """A shared-memory region mapped into this process; tensors view it without a copy."""

    def __init__(self, fd: int) -> None:
        """Maps the region behind `fd` (which the caller may close afterwards)."""
        size = os.fstat(fd).st_size
        self.size = size
        # A zero-sized region cannot be mapped; it holds no tensor either.
        self._map = mmap.mmap(fd, size) if size else None
        self._base = torch.frombuffer(self._map, dtype=torch.uint8) if size else torch.empty(0, dtype=torch.uint8)

    def view(self, offset: int, dtype: torch.dtype, shape: list[int]) -> torch.Tensor:
        """A tensor over the region's bytes at `offset` (no copy)."""
        count = 1
        for d in shape:
            count *= d
        nbytes = count * torch.empty((), dtype=dtype).element_size()
        if offset < 0 or offset + nbytes > self.size:
            raise ValueError(f"bytes [{offset}, {offset + nbytes}) are outside a region of {self.size} bytes")
        return self._base[offset : offset + nbytes].view(dtype).view(shape)

    def contains(self, tensor: torch.Tensor) -> int | None:
        """The offset of `tensor`'s bytes in this region, if they lie in it."""
        if self.size == 0 or not tensor.is_contiguous():
            return None
        start = self._base.data_ptr()
        p = tensor.data_ptr()
        nbytes = tensor.numel() * tensor.element_size()
        if start <= p and p + nbytes <= start + self.size:
            return p - start
        return None
