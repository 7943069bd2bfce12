"""Characteristic properties as one flag enum, so "may I read this?" is one bit test."""

from __future__ import annotations

import enum
from collections.abc import Iterable


class CharProperty(enum.Flag):
    """A characteristic's properties; values are the ATT declaration bits (Vol 3 Part G 3.3.1.1).

    bleak reports properties as names ("read", "write-without-response", ...);
    ``from_names`` turns them into this flag, ignoring names it does not know (BlueZ adds
    security flags such as "encrypt-read" that say nothing about which operations exist).
    """

    BROADCAST = 0x01
    READ = 0x02
    WRITE_WITHOUT_RESPONSE = 0x04
    WRITE = 0x08
    NOTIFY = 0x10
    INDICATE = 0x20
    AUTHENTICATED_SIGNED_WRITES = 0x40
    EXTENDED_PROPERTIES = 0x80
    RELIABLE_WRITE = 0x100
    WRITABLE_AUXILIARIES = 0x200

    @classmethod
    def from_names(cls, names: Iterable[str]) -> CharProperty:
        """The flag for bleak's property names; unknown names are ignored."""
        flag = cls(0)
        for name in names:
            member = _BY_NAME.get(name)
            if member is not None:
                flag |= member
        return flag

    def names(self) -> frozenset[str]:
        """bleak's names for the properties set here."""
        return frozenset(name for name, member in _BY_NAME.items() if member in self)


_BY_NAME: dict[str, CharProperty] = {
    member.name.lower().replace("_", "-"): member for member in CharProperty if member.name
}
