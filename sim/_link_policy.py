"""What the emulated air asks before a central's connect or disconnect goes through.

The central controller (``_hci.py``) asks a :class:`LinkPolicy` once per attempt; the
sim's world answers with its fault controls (refuse, stall, delay). ``_OpenPolicy`` lets
everything through, for a controller with no world behind it.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Protocol

from bumble import hci

_DEFAULT_RSSI = -60


class Verdict(enum.Enum):
    """What the air does with a connect or disconnect the central asked for."""

    PROCEED = enum.auto()
    """Carry it out (after ``Admission.delay`` seconds)."""
    REFUSE = enum.auto()
    """Fail it: the central's host gets a connection failure."""
    STALL = enum.auto()
    """Never answer it."""


@dataclasses.dataclass(frozen=True, slots=True)
class Admission:
    """A policy's answer for one connect or disconnect."""

    verdict: Verdict
    """What to do."""
    delay: float = 0.0
    """Seconds to wait before proceeding (``Verdict.PROCEED`` only)."""


PROCEED = Admission(Verdict.PROCEED)


class LinkPolicy(Protocol):
    """What the central controller asks the air about; called on the loop thread."""

    def admit_connect(self, peer: hci.Address) -> Admission:
        """Decide a connect to ``peer``, once per attempt, when ``peer`` is reached."""

    def admit_disconnect(self, peer: hci.Address) -> Admission:
        """Decide a disconnect from ``peer`` requested by the central's host."""

    def rssi_of(self, advertiser: hci.Address) -> int:
        """The RSSI to report for an advertisement from ``advertiser``."""


class _OpenPolicy:
    def admit_connect(self, peer: hci.Address) -> Admission:
        return PROCEED

    def admit_disconnect(self, peer: hci.Address) -> Admission:
        return PROCEED

    def rssi_of(self, advertiser: hci.Address) -> int:
        return _DEFAULT_RSSI
