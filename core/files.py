"""Opening input files once, decoding them explicitly, and writing output files atomically.

`Source(path)` opens a data file exactly once and hands out its bytes through one handle, so
a pipe or a process substitution (``<(zcat x.gz)``) loses nothing to sniffing:

* what it opens: a regular file or a pipe (FIFO). Anything else (a directory, ``/dev/zero`` and
  other devices, sockets) is refused with a message naming its kind. A named pipe is opened
  without blocking and the loader waits at most `FIFO_WAIT_S` seconds for a writer to send
  something; a pipe nobody writes into is refused instead of hanging in ``open()`` forever.
* compression: gzip is recognised by its magic bytes (not the file name); a truncated or corrupt
  stream raises `DataFormatError` naming the file and the line reached, never ``EOFError`` or
  ``zlib.error``.
* sniffing: `Source.first_line` reads ahead at most `HEAD_LIMIT` bytes (decompressed) and pushes
  them back, so the reader starts again at byte 0 of the same handle.
* bounded lines: a line longer than `MAX_LINE_BYTES` is refused (`/dev/zero` through a pipe,
  binary data), so memory stays bounded.
* encodings: `choose_encoding` takes the encoding the user gave (``--encoding``), else the one a
  byte-order mark names (UTF-8 with BOM as spreadsheet programs save it, UTF-16, UTF-32), else the
  format's default. Decoding is strict: an undecodable byte raises `DataFormatError` naming the
  encoding, the file, the byte offset and the line, and suggesting ``--encoding``.

`write_atomic(path, text)` writes a temporary file in the same directory and renames it over the
target, so a result file is either the old one or the complete new one.
"""
from __future__ import annotations

import codecs
import gzip
import io
import os
import select
import stat
import tempfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator, TextIO

from core.errors import DataFormatError, ParameterError, show_text

HEAD_LIMIT = 1 << 20        # bytes read ahead to find the first non-blank line
MAX_LINE_BYTES = 1 << 20    # a longer line means "not a line-based text file"
FIFO_WAIT_S = 10.0          # how long a named pipe may stay silent before it is refused
_CHUNK = 1 << 16
GZIP_MAGIC = b"\x1f\x8b"
EMPTY_FILE = "the file is empty or holds only blank lines (no data rows)"

# byte-order marks, longest first (the UTF-32 LE mark starts with the UTF-16 LE one)
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
_ENCODING_EXAMPLES = "e.g. utf-8, latin-1, cp1252, shift_jis, utf-16"


def check_encoding(name: str | None, parameter: str = "encoding") -> str | None:
    """The codec's canonical name, or ParameterError when Python knows no such codec."""
    if name is None:
        return None
    try:
        canonical = codecs.lookup(str(name)).name
        # bytes-to-bytes and text-to-text codecs (hex, base64, rot13) are not text encodings
        io.TextIOWrapper(io.BytesIO(), encoding=canonical)
        return canonical
    except LookupError:
        raise ParameterError(parameter, name, "a text encoding Python knows, e.g. utf-8, "
                             "latin-1, cp1252, shift_jis, utf-16") from None


def choose_encoding(head: bytes, given: str | None, default: str) -> str:
    """The encoding to decode a file with: the user's, else the one its byte-order mark names,
    else `default`. A UTF-8 BOM is dropped whichever way UTF-8 was chosen."""
    if given is not None:
        name = check_encoding(given)
        return "utf-8-sig" if name == "utf-8" and head.startswith(codecs.BOM_UTF8) else name
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    return default


def _ascii_compatible(encoding: str) -> bool:
    return not codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))


class _Pushback(io.RawIOBase):
    """A raw byte stream that first replays bytes already read from it (the gzip magic)."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh, self._head = fh, b""

    def readable(self) -> bool:
        return True

    def peek_exact(self, n: int) -> bytes:
        """Up to `n` bytes (fewer only at end of file), left to be read again."""
        while len(self._head) < n:
            more = self._fh.read(n - len(self._head))
            if not more:
                break
            self._head += more
        return self._head[:n]

    def readinto(self, b) -> int:
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        return self._fh.readinto(b)

    def close(self) -> None:
        self._fh.close()
        super().close()


class GuardedStream(io.BufferedIOBase):
    """The file's (decompressed) bytes: replays what sniffing read ahead, counts bytes and line
    breaks (for error locations), refuses over-long lines and turns decompression failures into
    DataFormatError."""

    def __init__(self, src: BinaryIO, path: str, compressed: bool,
                 max_line: int | None = MAX_LINE_BYTES, encoding_flag: str = "--encoding") -> None:
        super().__init__()
        self._src, self.path, self.compressed, self.max_line = src, path, compressed, max_line
        self.encoding_flag = encoding_flag
        self._head = b""
        self._eof = False
        self.offset = 0            # bytes delivered
        self.newlines = 0          # b"\n" delivered
        self._since_newline = 0
        self.last = (0, 0, 0)      # (offset, newlines) before the latest read, and its length

    def readable(self) -> bool:
        return True

    def _pull(self, n: int) -> bytes:
        if self._eof:
            return b""
        try:
            data = self._src.read(n)
        except (EOFError, zlib.error, gzip.BadGzipFile) as e:
            what = "gzip data is truncated or corrupt" if self.compressed else "cannot read"
            raise DataFormatError(f"{what} ({_exc_name(e)}: {e}) after "
                                  f"{self.offset + len(self._head)} decompressed bytes",
                                  path=self.path, line=self.newlines + 1) from None
        except OSError as e:
            raise DataFormatError(f"cannot read ({e.strerror or e})", path=self.path,
                                  line=self.newlines + 1) from None
        if not data:
            self._eof = True
        return data

    def peek_head(self, n: int) -> bytes:
        """At least `n` bytes from the start (fewer only at end of file), to be read again."""
        while len(self._head) < n:
            data = self._pull(max(n - len(self._head), _CHUNK))
            if not data:
                break
            self._head += data
        return self._head

    def _read(self, n: int) -> bytes:
        if self._head:
            data, self._head = self._head[:n], self._head[n:]
        else:
            data = self._pull(n)
        self._count(data)
        return data

    def _count(self, data: bytes) -> None:
        self.last = (self.offset, self.newlines, len(data))
        self.offset += len(data)
        i = data.rfind(b"\n")
        if i < 0:
            self._since_newline += len(data)
        else:
            self.newlines += data.count(b"\n")
            self._since_newline = len(data) - i - 1
        if self.max_line is not None and self._since_newline > self.max_line:
            raise DataFormatError(f"line longer than {self.max_line} bytes without a line break: "
                                  "not a line-based text file", path=self.path,
                                  line=self.newlines + 1)

    def read1(self, n: int = -1) -> bytes:
        return self._read(n if n is not None and n > 0 else _CHUNK)

    def read(self, n: int | None = -1) -> bytes:
        if n is not None and n >= 0:
            return self._read(n)
        parts = []
        while chunk := self._read(_CHUNK):
            parts.append(chunk)
        return b"".join(parts)

    def readinto(self, b) -> int:
        data = self._read(len(b))
        b[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._src.close()
        super().close()

    def decode_error(self, e: UnicodeDecodeError, encoding: str) -> DataFormatError:
        """Where decoding failed, as a DataFormatError naming encoding, byte offset and line."""
        start, newlines, length = self.last
        obj = e.object if isinstance(e.object, (bytes, bytearray)) else b""
        pending = max(len(obj) - length, 0)  # bytes the decoder kept from the previous read
        offset = max(start - pending + e.start, 0)
        bad = show_text(bytes(obj[e.start:e.end]))
        line = None
        if _ascii_compatible(encoding):
            line = newlines - obj[:pending].count(b"\n") + obj[:e.start].count(b"\n") + 1
        return DataFormatError(f"cannot decode byte(s) {bad} at byte offset {offset} as "
                               f"{encoding} ({e.reason}); pass {self.encoding_flag} "
                               f"({_ENCODING_EXAMPLES})",
                               path=self.path, line=line)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def _open_fd(path: str, fifo_wait: float) -> tuple[int, bool]:
    """A read descriptor of a regular file or pipe (and whether it is a pipe)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DataFormatError("no such file", path=path) from None
    except OSError as e:
        raise DataFormatError(f"cannot open ({e.strerror or e})", path=path) from None
    if stat.S_ISDIR(st.st_mode):
        raise DataFormatError("is a directory, not a data file", path=path)
    fifo = stat.S_ISFIFO(st.st_mode)
    if not (fifo or stat.S_ISREG(st.st_mode)):
        raise DataFormatError(f"is a {_kind(st.st_mode)}, not a data file (only regular files "
                              "and pipes are read)", path=path)
    try:
        fd = os.open(path, os.O_RDONLY | (os.O_NONBLOCK if fifo else 0))
    except OSError as e:
        raise DataFormatError(f"cannot open ({e.strerror or e})", path=path) from None
    if fifo:
        _wait_for_writer(fd, path, fifo_wait)
    return fd, fifo


def _wait_for_writer(fd: int, path: str, wait: float) -> None:
    """Wait until a pipe has data or was closed by its writer; refuse it after `wait` seconds."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    if not poller.poll(max(int(wait * 1000), 0)):
        os.close(fd)
        raise DataFormatError(f"named pipe: nothing was written into it within {wait:g} s (no "
                              "writer?); start the program writing into it first, or pass a "
                              "regular file", path=path)
    os.set_blocking(fd, True)


class Source:
    """One open input file: see the module docstring. Use as a context manager."""

    def __init__(self, path: str | Path, *, max_line: int | None = MAX_LINE_BYTES,
                 fifo_wait: float | None = None, encoding_flag: str = "--encoding") -> None:
        self.path = str(path)
        wait = FIFO_WAIT_S if fifo_wait is None else fifo_wait
        fd, self.is_pipe = _open_fd(os.path.expanduser(self.path), wait)
        raw = _Pushback(io.FileIO(fd, "rb", closefd=True))
        try:
            self.compressed = raw.peek_exact(2) == GZIP_MAGIC
        except OSError as e:
            raw.close()
            raise DataFormatError(f"cannot read ({e.strerror or e})", path=self.path) from None
        inner: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if self.compressed else raw
        self.stream = GuardedStream(inner, self.path, self.compressed, max_line, encoding_flag)
        self._raw = raw
        self._used = False

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.stream.close()
        self._raw.close()

    def head(self, n: int = 4) -> bytes:
        """The first `n` (decompressed) bytes, without consuming them."""
        return self.stream.peek_head(n)[:n]

    def encoding(self, given: str | None, default: str) -> str:
        """`choose_encoding` for this file."""
        return choose_encoding(self.head(4), given, default)

    def first_line(self, encoding: str) -> tuple[str, int] | None:
        """The first non-blank line (no line break) and its 1-based number; None when the file
        holds only blank lines. Reads ahead at most `HEAD_LIMIT` bytes, replayed afterwards."""
        size = _CHUNK
        while True:
            data = self.stream.peek_head(size)
            at_end = len(data) < size
            text = data.decode(encoding, errors="replace")
            lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
            complete = lines if at_end else lines[:-1]
            for i, line in enumerate(complete, start=1):
                if line.strip():
                    return line, i
            if at_end:
                return None
            if size >= HEAD_LIMIT:
                raise DataFormatError(f"no line break in the first {HEAD_LIMIT} bytes: not a "
                                      "line-based text file", path=self.path, line=1)
            size *= 2

    def require_content(self, encoding: str) -> tuple[str, int]:
        """`first_line`, or the one error every format gives for an empty or blank file."""
        head = self.first_line(encoding)
        if head is None:
            raise DataFormatError(EMPTY_FILE, path=self.path)
        return head

    @contextmanager
    def text(self, encoding: str) -> Iterator[TextIO]:
        """The file as text (universal newlines, strict decoding); once per Source. Decoding
        failures inside the block become DataFormatError naming the encoding and position."""
        if self._used:
            raise RuntimeError("Source.text: the stream was already read")
        self._used = True
        f = io.TextIOWrapper(self.stream, encoding=encoding, errors="strict", newline=None)
        try:
            yield f
        except UnicodeDecodeError as e:
            raise self.stream.decode_error(e, encoding) from None
        finally:
            f.detach()


@contextmanager
def as_source(path_or_source: "str | Path | Source", **kwargs) -> Iterator[Source]:
    """A Source for a path (opened and closed here), or the given Source as is."""
    if isinstance(path_or_source, Source):
        yield path_or_source
        return
    with Source(path_or_source, **kwargs) as src:
        yield src


def write_atomic(path: str | Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same directory and a rename: a
    reader (or a crash) never sees a half-written file."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=str(p.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide results from the group
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _exc_name(e: BaseException) -> str:
    """'zlib.error', 'EOFError', 'gzip.BadGzipFile'."""
    mod = type(e).__module__
    return type(e).__name__ if mod == "builtins" else f"{mod}.{type(e).__name__}"
