"""The size a JPEG or PNG stream claims, read from its header before any pixel is decoded.

A compressed image of a few hundred bytes can claim 20000x20000 pixels; OpenCV allocates
what the header claims (its only guard is 2**30 pixels) and decodes. Reading the claim first
lets the caller refuse it against a budget (``messages.check_pixels``), so nothing is
allocated for a message that is over it.

- PNG: the 8-byte signature, then the first chunk, which must be ``IHDR`` (big-endian width,
  height; PNG specification, section 11.2.2).
- JPEG: ``SOI`` (FF D8), then marker segments, each ``FF xx`` and a big-endian length that
  counts itself, up to the first start-of-frame (``SOF0``..``SOF15`` but ``DHT`` C4, ``JPG``
  C8, ``DAC`` CC), whose payload is precision, height, width (ITU-T T.81, B.2.2). A scan or
  the image's end before any SOF, bytes between segments that are no marker (libjpeg skips
  them with a warning), and a height of 0 (defined later by a DNL marker, which libjpeg
  refuses) are refused here: the claim would be unknown.

Other formats OpenCV's ``imdecode`` would also read (TIFF, WebP, EXR, ...) are not what
image_transport sends, and are refused too, so no decoder we did not check runs. No numpy,
no OpenCV: bytes in, two ints out.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"

_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length follows
_END_OF_HEADERS = {0xDA: "a scan (SOS)", 0xD9: "the image's end (EOI)"}


class HeaderError(ValueError):
    """Bytes whose header does not say, in a way we can trust, how large the image is."""


class ImageSize(NamedTuple):
    """What a header claims, in pixels."""

    width: int
    height: int
    codec: str
    """``"jpeg"`` or ``"png"``: the stream's own signature, whatever the message's format says."""


def claimed_size(data: bytes | memoryview) -> ImageSize:
    """The width and height a JPEG or PNG stream's header claims; HeaderError otherwise."""
    head = bytes(data[:8])
    if head == PNG_SIGNATURE:
        return _png_size(data)
    if head[:2] == JPEG_SOI:
        return _jpeg_size(data)
    raise HeaderError(f"neither a JPEG nor a PNG stream (starts {head.hex(' ')})")


def _png_size(data: bytes | memoryview) -> ImageSize:
    chunk = bytes(data[8:24])
    if len(chunk) < 16 or chunk[4:8] != b"IHDR":
        raise HeaderError("PNG stream without an IHDR chunk first")
    width, height = struct.unpack(">II", chunk[8:16])
    return ImageSize(width, height, "png")


def _jpeg_size(data: bytes | memoryview) -> ImageSize:
    offset, size = len(JPEG_SOI), len(data)
    while offset + 2 <= size:
        if data[offset] != 0xFF:
            raise HeaderError(f"JPEG stream: no marker at byte {offset} (0x{data[offset]:02x})")
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte before a marker
            offset += 1
            continue
        if marker in _STANDALONE_MARKERS:
            offset += 2
            continue
        if marker in _END_OF_HEADERS:
            raise HeaderError(f"JPEG stream reaches {_END_OF_HEADERS[marker]} before a frame header (SOF)")
        segment = bytes(data[offset + 2 : offset + 9])
        if len(segment) < 2:
            break
        (length,) = struct.unpack(">H", segment[:2])
        if length < 2:
            raise HeaderError(f"JPEG segment 0x{marker:02x} at byte {offset} has length {length}")
        if marker in _SOF_MARKERS:
            if len(segment) < 7 or length < 8:
                break
            height, width = struct.unpack(">HH", segment[3:7])
            if height == 0:
                raise HeaderError("JPEG frame height 0 (set by a DNL marker) is not supported")
            return ImageSize(width, height, "jpeg")
        offset += 2 + length
    raise HeaderError(f"JPEG stream of {size} bytes ends before its frame header (SOF)")


__all__ = ["JPEG_SOI", "PNG_SIGNATURE", "HeaderError", "ImageSize", "claimed_size"]
