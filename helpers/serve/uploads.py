"""What a request to the service carries, read strictly: the upload, its size and type, ``k``.

Everything here raises ``RequestError(status, message)``; the app turns it into a 4xx JSON
error that says what was expected.
"""

from __future__ import annotations

import logging

from PIL import Image
from starlette.formparsers import MultiPartParser
from starlette.requests import ClientDisconnect, Request

from helpers.data import images

LOG = logging.getLogger("uvicorn.error")  # uvicorn's own log: shown at --log-level warning
MAX_BODY_BYTES = 5 * 1024 * 1024  # 5 MiB per upload
MAX_PIXELS = 4096 * 4096  # decoded size guard: a small PNG can claim a huge canvas
RAW_TYPES = ("image/png", "image/jpeg", "image/gif", "image/bmp", "image/webp", "image/tiff",
             "application/octet-stream")
EXPECTED_BODY = ("a multipart/form-data body with the image in the field 'file', or the raw "
                 "image bytes with Content-Type image/png, image/jpeg (or another image/*)")


class RequestError(Exception):
    """A bad request: answered with ``status`` and a JSON error saying what was expected."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def decode_image(data: bytes, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode an upload with ``helpers.data.images.decode_pil``; ``RequestError`` when unusable.

    The pixel count is checked from the header, before any pixel is decompressed: a
    decompression bomb gets 413, anything else that is not a readable image 400.
    """
    if not data:
        raise RequestError(400, f"empty body: expected {EXPECTED_BODY}")
    try:
        return images.decode_pil(data, "upload", max_pixels=max_pixels)
    except images.ImageReadError as error:
        bomb = "decompression bomb" in str(error)
        kind = "image too large to decode" if bomb else "not an image or a corrupt image"
        raise RequestError(413 if bomb else 400, f"{kind}: {error}") from error


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        length = ascii_int(declared, max_digits=18)
        if length is None:
            raise RequestError(400, f"Content-Length {declared[:40]!r} is not a number of bytes")
        if length > limit:
            raise RequestError(413, f"body of {length:,} bytes is over the limit of "
                                    f"{limit:,} bytes; expected a smaller image")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestError(413, f"body is over the limit of {limit:,} bytes; expected "
                                        "a smaller image")
            chunks.append(chunk)
    except ClientDisconnect:  # one line in the log, not a traceback per request
        client = request.client.host if request.client else "a client"
        LOG.warning("%s disconnected after %d bytes of the body of %s", client, size,
                    request.url.path)
        raise RequestError(400, "the client disconnected before the body was complete") from None
    return b"".join(chunks)


async def image_bytes(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The uploaded image's bytes, from a multipart field ``file`` or a raw ``image/*`` body."""
    media = _media_type(request.headers.get("content-type"))
    if media != "multipart/form-data" and media not in RAW_TYPES and not media.startswith("image/"):
        raise RequestError(415, f"Content-Type {media or '(none)'!r} not accepted; expected "
                                f"{EXPECTED_BODY}")
    body = await read_body(request, limit)
    if media != "multipart/form-data":
        return body
    if not body:
        raise RequestError(400, f"empty body: expected {EXPECTED_BODY}")

    async def once():
        yield body

    try:
        form = await MultiPartParser(request.headers, once(), max_files=1, max_fields=8,
                                     max_part_size=limit).parse()
    except Exception as error:  # noqa: BLE001 - python-multipart raises several types
        raise RequestError(400, f"corrupt multipart body ({error}); expected {EXPECTED_BODY}") from error
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        await form.close()
        raise RequestError(400, f"no file in the form field 'file' (fields: {sorted(form.keys())}); "
                                f"expected {EXPECTED_BODY}")
    data = await upload.read()
    await form.close()
    return data


def ascii_int(text: str, max_digits: int) -> int | None:
    """``text`` as a non-negative integer when it is 1 to ``max_digits`` ASCII digits, else None.

    ``str.isdigit`` is not enough: it accepts superscripts (``"²"``) that ``int`` refuses and
    other scripts' digits that ``int`` reads, and ``int`` refuses strings past 4,300 digits.
    """
    if not 1 <= len(text) <= max_digits or not all("0" <= c <= "9" for c in text):
        return None
    return int(text)


def parse_k(value: str | None, classes: int) -> int:
    """The ``k`` query parameter: an integer between 1 and the number of classes."""
    if value is None:
        return min(5, classes)
    k = ascii_int(value, max_digits=len(str(classes)))
    if k is None or not 1 <= k <= classes:
        raise RequestError(422, f"query parameter k={value[:40]!r}: expected an integer between "
                                f"1 and {classes}")
    return k
