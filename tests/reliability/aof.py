"""Read the commands a server appended to its AOF: an independent record of write order.

The server logs every write it executed, in execution order, with ``--appendonly yes``.
Tests use it as a witness that does not depend on the store or on the client: the
order in which turns really reached the list.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


def _incr_files(data_dir: Path) -> list[Path]:
    """The incremental AOF files named in the manifest, in order (Redis/Valkey 7+ layout)."""
    aof_dir = data_dir / "appendonlydir"
    manifest = next(aof_dir.glob("*.manifest"))
    files: list[Path] = []
    for line in manifest.read_text().splitlines():
        fields = line.split()
        attributes = dict(zip(fields[::2], fields[1::2], strict=False))
        if attributes.get("type") == "i":
            files.append(aof_dir / attributes["file"])
    return files


def _parse(data: bytes) -> Iterator[list[bytes]]:
    """RESP arrays of bulk strings, the only shape an AOF holds."""
    position = 0
    while position < len(data):
        if data[position : position + 1] != b"*":
            raise ValueError(f"unexpected byte at offset {position} of the AOF")
        end = data.index(b"\r\n", position)
        count = int(data[position + 1 : end])
        position = end + 2
        arguments: list[bytes] = []
        for _ in range(count):
            end = data.index(b"\r\n", position)
            length = int(data[position + 1 : end])
            position = end + 2
            arguments.append(data[position : position + length])
            position += length + 2
        yield arguments


def commands(data_dir: Path) -> Iterator[list[bytes]]:
    """Every command the server logged, oldest first."""
    for path in _incr_files(data_dir):
        yield from _parse(path.read_bytes())


def pushed_values(data_dir: Path, key: str) -> list[str]:
    """Every value RPUSHed onto ``key``, in the order the server executed the pushes."""
    wanted = key.encode()
    values: list[str] = []
    for command in commands(data_dir):
        if command[0].upper() == b"RPUSH" and command[1] == wanted:
            values.extend(value.decode() for value in command[2:])
    return values
