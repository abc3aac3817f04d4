"""A StrEnum whose members carry their pt-BR label: one definition for the value stored and the text shown."""

from enum import StrEnum
from typing import Self


class LabelledEnum(StrEnum):
    """``OPEN = "aberta", "Em aberto"``: the first string is the database value (unchanged), the second the label."""

    label: str

    def __new__(cls, value: str, label: str) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    @classmethod
    def labels(cls) -> dict[Self, str]:
        """Member → label, in declaration order (select choices, list formatters)."""
        return {member: member.label for member in cls}
