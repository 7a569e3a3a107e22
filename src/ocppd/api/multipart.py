"""Uploaded files at the HTTP edge: a body refused early when its declared length is over the limit, and
a file sent as multipart/form-data, streamed: the parts are parsed as the body arrives (never read
whole, never spooled), so the file can go straight to ``csms.files.save_stream`` with its size limit.

Browsers (the dashboard's firmware upload) and many stations (diagnostics uploads by HTTP POST) send
files this way. Small text fields before the file part are collected; the first part with a file name
(or the part named ``file``) is the file; anything after it is ignored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from ocppd.csms.files import FileRefused

MAX_FIELD_BYTES = 64 * 1024  # all the text fields before the file together


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith("multipart/form-data")


def refuse_declared_too_large(request: Request, limit: int) -> None:
    """FileRefused 413 before reading anything when the Content-Length says the body is over ``limit``
    (the streamed count still holds for bodies without one, or lying)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FileRefused(413, f"the file is larger than the limit of {limit} bytes")


@dataclass(slots=True)
class _State:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    header_name: bytes = b""
    header_value: bytes = b""
    name: str = ""
    filename: str | None = None
    is_file: bool = False
    text: bytearray = field(default_factory=bytearray)
    text_total: int = 0
    fields: dict[str, str] = field(default_factory=dict)
    data: list[bytes] = field(default_factory=list)  # file bytes parsed from the current chunk
    file_started: bool = False
    file_done: bool = False


@dataclass(slots=True)
class MultipartFile:
    """The file part: its name as sent, the text fields that came before it, and its bytes."""

    filename: str | None
    fields: dict[str, str]
    chunks: AsyncIterator[bytes]


async def multipart_file(request: Request) -> MultipartFile:
    """Parse up to the start of the file part; FileRefused 400 when the body has none."""
    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if not boundary:
        raise FileRefused(400, "multipart/form-data without a boundary")
    state = _State()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state.header_name += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state.header_value += data[start:end]

    def on_header_end() -> None:
        state.headers[state.header_name.strip().lower()] = state.header_value.strip()
        state.header_name, state.header_value = b"", b""

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(state.headers.get(b"content-disposition", b""))
        state.name = disposition.get(b"name", b"").decode(errors="replace")
        raw = disposition.get(b"filename")
        state.filename = raw.decode(errors="replace") if raw is not None else None
        state.is_file = not state.file_done and (state.filename is not None or state.name == "file")
        state.file_started = state.file_started or state.is_file
        state.text = bytearray()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state.is_file:
            state.data.append(bytes(data[start:end]))
        elif not state.file_started:
            state.text += data[start:end]
            state.text_total += end - start
            if state.text_total > MAX_FIELD_BYTES:
                raise FileRefused(413, f"the form fields before the file are larger than {MAX_FIELD_BYTES} bytes")

    def on_part_end() -> None:
        if state.is_file:
            state.file_done = True
            state.is_file = False
        elif not state.file_started and state.name:
            state.fields[state.name] = state.text.decode(errors="replace")
        state.headers = {}

    parser = MultipartParser(boundary, {
        "on_header_field": on_header_field, "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished, "on_part_data": on_part_data, "on_part_end": on_part_end,
    })  # fmt: skip
    body = request.stream()
    async for chunk in body:  # up to the file part's headers
        parser.write(chunk)
        if state.file_started:
            break
    if not state.file_started:
        raise FileRefused(400, "the form has no file part")

    async def chunks() -> AsyncIterator[bytes]:
        while True:
            pending, state.data = state.data, []
            for piece in pending:
                if piece:
                    yield piece
            if state.file_done:
                return
            try:
                chunk = await anext(body)
            except StopAsyncIteration:
                # the body ended inside the file part: an interrupted upload, never a complete file
                raise FileRefused(400, "the upload ended before the file part was complete") from None
            parser.write(chunk)

    return MultipartFile(state.filename, dict(state.fields), chunks())
