"""A tiny, bounds-checked reader of the TFLite flatbuffer: enough to validate a file and read metadata.

Pure Python (struct): the runtime uses it before handing a file to the native interpreter, because a
truncated or corrupt flatbuffer can crash the process, and to read edgekit's metadata on devices that
have no tensorflow. Layout facts (TFLite schema): ``Model`` fields are version(0), operator_codes(1),
subgraphs(2), description(3), buffers(4), metadata_buffer(5), metadata(6), signature_defs(7);
``Metadata`` is name(0), buffer(1); ``Buffer`` is data(0), offset(1), size(2).
"""

from __future__ import annotations

import struct

from edgekit.errors import FlatbufferError

FILE_IDENTIFIER = b"TFL3"


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)

    def _check(self, pos: int, length: int) -> None:
        if pos < 0 or pos + length > self.size:
            raise FlatbufferError(
                f"offset {pos}+{length} is outside the file ({self.size} bytes): truncated?"
            )

    def u8(self, pos: int) -> int:
        self._check(pos, 1)
        return self.data[pos]

    def u16(self, pos: int) -> int:
        self._check(pos, 2)
        return struct.unpack_from("<H", self.data, pos)[0]

    def u32(self, pos: int) -> int:
        self._check(pos, 4)
        return struct.unpack_from("<I", self.data, pos)[0]

    def i32(self, pos: int) -> int:
        self._check(pos, 4)
        return struct.unpack_from("<i", self.data, pos)[0]

    def u64(self, pos: int) -> int:
        self._check(pos, 8)
        return struct.unpack_from("<Q", self.data, pos)[0]

    def field(self, table: int, index: int) -> int | None:
        """Absolute position of field ``index`` of the table at ``table``, or None when absent."""
        vtable = table - self.i32(table)
        vtable_len = self.u16(vtable)
        slot = 4 + 2 * index
        if slot + 2 > vtable_len:
            return None
        offset = self.u16(vtable + slot)
        return table + offset if offset else None

    def indirect(self, pos: int) -> int:
        return pos + self.u32(pos)

    def vector(self, table: int, index: int) -> tuple[int, int]:
        """(start of elements, length) of a vector field; (0, 0) when absent."""
        pos = self.field(table, index)
        if pos is None:
            return 0, 0
        vec = self.indirect(pos)
        length = self.u32(vec)
        return vec + 4, length

    def table_vector(self, table: int, index: int) -> list[int]:
        start, length = self.vector(table, index)
        self._check(start, 4 * length)
        return [self.indirect(start + 4 * i) for i in range(length)]

    def string(self, table: int, index: int) -> str | None:
        pos = self.field(table, index)
        if pos is None:
            return None
        start = self.indirect(pos)
        length = self.u32(start)
        self._check(start + 4, length)
        return self.data[start + 4 : start + 4 + length].decode("utf-8", errors="replace")


def _root(reader: _Reader) -> int:
    if reader.size < 8:
        raise FlatbufferError(f"only {reader.size} bytes: not a TFLite model")
    if reader.data[4:8] != FILE_IDENTIFIER:
        raise FlatbufferError("missing the TFLite file identifier 'TFL3' at bytes 4..8: not a TFLite model")
    return reader.indirect(0)


def _buffer_bytes(reader: _Reader, buffer_table: int) -> bytes:
    start, length = reader.vector(buffer_table, 0)
    if length:
        reader._check(start, length)
        return reader.data[start : start + length]
    off_pos, size_pos = reader.field(buffer_table, 1), reader.field(buffer_table, 2)
    if off_pos is not None and size_pos is not None:  # large models keep data after the flatbuffer
        offset, size = reader.u64(off_pos), reader.u64(size_pos)
        reader._check(offset, size)
        return reader.data[offset : offset + size]
    return b""


def validate(data: bytes) -> None:
    """Raise FlatbufferError unless ``data`` is a structurally sound TFLite model.

    Checks the identifier, that every buffer (weights) lies inside the file, and that there is at least
    one subgraph with operators: the checks that catch truncated and foreign files before native code
    reads them.
    """
    reader = _Reader(data)
    root = _root(reader)
    subgraphs = reader.table_vector(root, 2)
    if not subgraphs:
        raise FlatbufferError("the model has no subgraph")
    for sg in subgraphs:
        tensors = reader.table_vector(sg, 0)
        reader.table_vector(sg, 3)  # operators
        for t in tensors:
            reader.vector(t, 0)  # shape
    for buf in reader.table_vector(root, 4):
        _buffer_bytes(reader, buf)
    reader.table_vector(root, 1)


def read_metadata(data: bytes) -> dict[str, bytes]:
    """All ``Model.metadata`` entries as name -> buffer bytes.

    >>> read_metadata(b"")
    Traceback (most recent call last):
    ...
    edgekit.errors.FlatbufferError: only 0 bytes: not a TFLite model
    """
    reader = _Reader(data)
    root = _root(reader)
    buffers = reader.table_vector(root, 4)
    entries: dict[str, bytes] = {}
    for meta in reader.table_vector(root, 6):
        name = reader.string(meta, 0) or ""
        pos = reader.field(meta, 1)
        index = reader.u32(pos) if pos is not None else 0
        if index < len(buffers):
            entries[name] = _buffer_bytes(reader, buffers[index])
    return entries


def op_histogram(data: bytes) -> dict[str, int]:
    """Op name -> count over the main subgraph's operators, read from the file (no interpreter, so no
    delegate preparing the weights): what ``Model.load(path).op_histogram()`` reports for an undelegated
    file. ``OperatorCode`` is deprecated_builtin_code(0), custom_code(1), version(2), builtin_code(3);
    ``SubGraph.operators`` is field 3 and ``Operator.opcode_index`` field 0.

    >>> op_histogram(b"")
    Traceback (most recent call last):
    ...
    edgekit.errors.FlatbufferError: only 0 bytes: not a TFLite model
    """
    reader = _Reader(data)
    root = _root(reader)
    names = []
    for code in reader.table_vector(root, 1):
        custom = reader.string(code, 1)
        old, new = reader.field(code, 0), reader.field(code, 3)
        builtin = max(reader.u8(old) if old is not None else 0, reader.i32(new) if new is not None else 0)
        names.append(custom if custom else _builtin_name(builtin))
    subgraphs = reader.table_vector(root, 2)
    counts: dict[str, int] = {}
    for op in reader.table_vector(subgraphs[0], 3) if subgraphs else []:
        pos = reader.field(op, 0)
        name = names[reader.u32(pos) if pos is not None else 0]
        counts[name] = counts.get(name, 0) + 1
    return counts


def _builtin_name(code: int) -> str:
    from ai_edge_litert import schema_py_generated

    for name, value in vars(schema_py_generated.BuiltinOperator).items():
        if value == code and not name.startswith("_"):
            return name
    return f"BUILTIN_{code}"
