"""The labelled enums: each member's database value is unchanged and carries its pt-BR label (pure units)."""

import pytest

from models.agency import SoaEnvironment
from models.debt import DebtStatus, NegotiationStatus
from models.feed import FeedScope
from models.labelled import LabelledEnum
from models.meeting import EmailKind, MeetingStatus, SendStatus
from models.negativation import ExclusionMotive, NegativationStatus

#: The strings stored in the database (and in existing rows): they must never change with the labels.
STORED = {
    DebtStatus: ["aberta", "em_acordo", "paga", "cancelada"],
    NegotiationStatus: ["aberta", "proposta", "acordo", "quitada", "quebrada", "cancelada"],
    MeetingStatus: ["agendada", "realizada", "cancelada"],
    EmailKind: ["invite", "invite_retry", "invite_add", "update", "cancel", "reminder"],
    SendStatus: ["pending", "sent", "partial", "failed"],
    NegativationStatus: ["pendente", "enviada", "ativa", "rejeitada", "erro", "incerta", "baixa_solicitada",
                         "excluida"],
    ExclusionMotive: ["pagamento", "acordo", "erro_contestacao", "ordem_judicial", "prazo_5_anos", "outro"],
    SoaEnvironment: ["producao", "homologacao", "sandbox"],
    FeedScope: ["mine", "all"],
}


@pytest.mark.parametrize("enum", list(STORED), ids=lambda e: e.__name__)
def test_values_are_the_stored_strings_and_every_member_has_a_label(enum):
    assert issubclass(enum, LabelledEnum)
    assert [member.value for member in enum] == STORED[enum]
    assert all(member == member.value and str(member) == member.value for member in enum)
    assert all(member.label.strip() and member.label != member.value for member in enum)
    assert list(enum.labels()) == list(enum)
    assert enum(STORED[enum][0]).label == enum.labels()[enum(STORED[enum][0])]


def test_labels_read_as_before():
    assert DebtStatus.OPEN.label == "Em aberto"
    assert NegativationStatus.UNCERTAIN.label == "Incerta (conferir)"
    assert ExclusionMotive.EXPIRY.label == "Prazo de 5 anos (CDC art. 43 §1º)"
    assert EmailKind.INVITE_ADD.label == "Convite (novos convidados)"
