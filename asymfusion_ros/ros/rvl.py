"""RVL, the lossless 16-bit depth codec of ``compressedDepth rvl`` (Wilson, "Fast Lossless Depth
Image Compression", ISS 2017), vectorised with numpy.

The stream, as ``compressed_depth_image_transport/src/rvl_codec.cpp`` in
ros-perception/image_transport_plugins (rolling, noetic-devel) writes it: pixels in row-major
order are cut into pairs (number of zeros, number of non-zeros, then one value per non-zero
pixel). A value is the zigzag code of the difference to the previous *non-zero* pixel (the
first one counts from 0; zero runs do not reset it). Every number is written as variable-length
nibbles, 3 data bits each, lowest bits first, bit 3 set when more nibbles follow. Nibbles fill
32-bit words from the most significant end; words are stored in the machine's (little-endian)
byte order, the last one padded with zero nibbles.

The C++ decoder walks the stream one number at a time. Here every step is an array operation:
nibbles -> numbers by ``np.add.reduceat``, the run headers found by pointer doubling (a header's
successor sits ``2 + non-zeros`` numbers further on), deltas summed by ``np.cumsum``.
"""

from __future__ import annotations

import numpy as np

_MAX_NIBBLES = 11
"""Nibbles a 32-bit number can need (3 bits each)."""


class RvlError(ValueError):
    """A byte string that is not a valid RVL stream for the image size it claims."""


def _zigzag(delta: np.ndarray) -> np.ndarray:
    """Signed -> unsigned, small magnitudes small: 0, -1, 1, -2 ... -> 0, 1, 2, 3 ..."""
    return np.where(delta >= 0, 2 * delta, -2 * delta - 1)


def _unzigzag(code: np.ndarray) -> np.ndarray:
    return (code >> 1) ^ -(code & 1)


def _numbers_to_words(numbers: np.ndarray) -> bytes:
    """Variable-length nibble coding of non-negative int64 numbers, packed MSB-first into LE words."""
    count = np.ones(numbers.size, dtype=np.int64)
    for k in range(1, _MAX_NIBBLES):
        count += numbers >= (1 << (3 * k))
    owner = np.repeat(np.arange(numbers.size), count)
    first = np.cumsum(count) - count
    position = np.arange(owner.size) - first[owner]
    nibbles = (numbers[owner] >> (3 * position)) & 7
    nibbles |= np.where(position < count[owner] - 1, 8, 0)
    padded = np.zeros(-(-nibbles.size // 8) * 8, dtype=np.uint32)
    padded[: nibbles.size] = nibbles
    shifts = np.arange(28, -1, -4, dtype=np.uint32)
    words = np.bitwise_or.reduce(padded.reshape(-1, 8) << shifts, axis=1)
    return words.astype("<u4").tobytes()


def _words_to_numbers(data: bytes) -> np.ndarray:
    """The inverse of :func:`_numbers_to_words`; trailing zero nibbles decode as zeros."""
    if len(data) % 4:
        raise RvlError(f"RVL data must be whole 32-bit words, got {len(data)} bytes")
    msb_first = np.frombuffer(data, dtype=np.uint8).reshape(-1, 4)[:, ::-1].reshape(-1)
    nibbles = np.empty(2 * msb_first.size, dtype=np.uint8)
    nibbles[0::2], nibbles[1::2] = msb_first >> 4, msb_first & 0xF
    ends = np.flatnonzero(nibbles < 8)  # a number ends at a nibble without the "more" bit
    if ends.size == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > _MAX_NIBBLES:
        raise RvlError(f"RVL number of {lengths.max()} nibbles (at most {_MAX_NIBBLES})")
    numbers = (nibbles[starts] & 7).astype(np.int64)
    for k in range(1, int(lengths.max())):
        longer = np.flatnonzero(lengths > k)
        numbers[longer] |= (nibbles[starts[longer] + k] & 7).astype(np.int64) << (3 * k)
    return numbers


def _run_headers(numbers: np.ndarray) -> np.ndarray:
    """Indices of every pair's zero count: the orbit of 0 under ``i -> i + 2 + numbers[i + 1]``.

    Pointer doubling: level k jumps 2**k pairs; walking the levels from the top down doubles the
    set of known headers each time, so there are log2(pairs) array steps, not one per pair.
    """
    size = numbers.size
    # int32 halves the memory traffic of the gathers (~2x faster); run lengths are clipped
    # to the stream first, so a corrupt one cannot overflow.
    successor = np.full(size + 1, size, dtype=np.int32)  # index ``size`` is the end (a fixed point)
    successor[: size - 1] = np.arange(2, size + 1, dtype=np.int32) + np.minimum(numbers[1:], size)
    np.minimum(successor, size, out=successor)
    levels = [successor]
    while levels[-1][0] < size:
        levels.append(levels[-1][levels[-1]])
    headers = np.zeros(1, dtype=np.int32)
    for jump in reversed(levels[:-1]):
        reached = jump[headers]
        headers = np.concatenate((headers, reached[reached < size]))
    return np.sort(headers).astype(np.int64)


def decode(data: bytes, width: int, height: int) -> np.ndarray:
    """An RVL stream (without the width/height prefix) -> (height, width) uint16.

    Every array is sized by the stream until its runs are found to cover exactly
    ``width * height`` pixels; only then is the image allocated. A few bytes claiming a huge
    image of zeros are valid, though: the caller checks the claim against its budget first
    (``compressed``, ``messages.check_pixels``).
    """
    pixels = width * height
    if width <= 0 or height <= 0:
        raise RvlError(f"RVL image size {width}x{height} is empty")
    numbers = _words_to_numbers(data)
    if numbers.size < 2:
        raise RvlError(f"RVL stream of {len(data)} bytes holds no run")
    headers = _run_headers(numbers)
    headers = headers[headers + 1 < numbers.size]
    zeros, nonzeros = numbers[headers], numbers[headers + 1]
    covered = np.cumsum(zeros + nonzeros)
    last = int(np.searchsorted(covered, pixels))  # the pair that completes the image
    if last == covered.size or covered[last] != pixels:
        reached = int(covered[-1]) if covered.size else 0
        raise RvlError(f"RVL stream covers {reached} pixels where {width}x{height} needs exactly {pixels}")
    headers, zeros, nonzeros = headers[: last + 1], zeros[: last + 1], nonzeros[: last + 1]
    if headers[-1] + 2 + nonzeros[-1] > numbers.size:
        raise RvlError("RVL stream ends inside a run of non-zero pixels")
    # The values of pair j are numbers[headers[j] + 2 :][: nonzeros[j]]; the pixels they fill
    # start after the pair's zeros.
    run_offsets = np.cumsum(nonzeros) - nonzeros
    within = np.arange(int(nonzeros.sum())) - np.repeat(run_offsets, nonzeros)
    values = _unzigzag(numbers[np.repeat(headers + 2, nonzeros) + within])
    targets = np.repeat(covered[: last + 1] - nonzeros, nonzeros) + within
    out = np.zeros(pixels, dtype=np.uint16)
    out[targets] = (np.cumsum(values) & 0xFFFF).astype(np.uint16)
    return out.reshape(height, width)


def encode(image: np.ndarray) -> bytes:
    """A (H, W) uint16 image -> RVL stream (without the width/height prefix); lossless."""
    if image.ndim != 2 or image.dtype != np.uint16:
        raise ValueError(f"RVL encodes (H, W) uint16 images, got {image.dtype} of shape {image.shape}")
    flat = image.reshape(-1).astype(np.int64)
    nonzero = flat != 0
    edges = np.diff(np.concatenate(([0], nonzero.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    lengths = stops - starts
    zeros = starts - np.concatenate(([0], stops[:-1]))
    trailing = flat.size - (int(stops[-1]) if stops.size else 0)
    if trailing or not stops.size:
        zeros, lengths = np.append(zeros, trailing), np.append(lengths, 0)
    values = flat[nonzero]
    codes = _zigzag(np.diff(values, prepend=0))
    numbers = np.empty(2 * zeros.size + codes.size, dtype=np.int64)
    headers = 2 * np.arange(zeros.size) + np.cumsum(lengths) - lengths
    is_value = np.ones(numbers.size, dtype=bool)
    is_value[headers] = is_value[headers + 1] = False
    numbers[headers], numbers[headers + 1] = zeros, lengths
    numbers[is_value] = codes
    return _numbers_to_words(numbers)


__all__ = ["RvlError", "decode", "encode"]
