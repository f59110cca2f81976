"""Counter-based random numbers: every draw is a pure function of its key.

A device model asks for "the noise of sensor 2 of device 17 at slot 4096 under seed 7" and
gets the same number whatever order devices are simulated in, on any machine and Python
version. No generator state is kept per device, which keeps 10,000 devices small.
The mixing function is SplitMix64 (a 64-bit finaliser with good avalanche).
"""

from __future__ import annotations

import math
from typing import Final

_MASK: Final = (1 << 64) - 1
_GOLDEN: Final = 0x9E3779B97F4A7C15
_TWO_TO_64: Final = float(1 << 64)


def mix64(value: int) -> int:
    """SplitMix64 of ``value`` (any int; taken modulo 2**64)."""
    z = (value + _GOLDEN) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def derive(*parts: int) -> int:
    """One 64-bit key from several integers (order matters)."""
    key = 0
    for part in parts:
        key = mix64(key ^ (part & _MASK))
    return key


def uniform(key: int, draw: int) -> float:
    """The ``draw``-th uniform number in [0, 1) of the stream ``key``."""
    return mix64(key + draw * _GOLDEN) / _TWO_TO_64


def gaussian(key: int, draw: int) -> float:
    """A standard normal number (Box-Muller on draws ``draw`` and ``draw + 1``)."""
    u1 = uniform(key, draw)
    u2 = uniform(key, draw + 1)
    # 1 - u1 lies in (0, 1], so the log is finite.
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)
