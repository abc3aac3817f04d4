"""The hand-typed recipient list (integrations.mail.parse_recipients) stated at its boundaries (pure units).

`make mutation` (tools/mutation.py) checks that changing the parser makes one of these fail.
"""

import pytest

from integrations.mail import MAX_RECIPIENTS, RecipientError, parse_recipients


def _refusal(text, **kw) -> RecipientError:
    with pytest.raises(RecipientError) as refused:
        parse_recipients(text, **kw)
    assert str(refused.value) == refused.value.message
    assert refused.value.args == (refused.value.message,)
    return refused.value


@pytest.mark.parametrize("text", [
    "a@x.com.br,b@x.com.br;c@x.com.br d@x.com.br",
    "a@x.com.br\nb@x.com.br\r\n\tc@x.com.br ,; d@x.com.br,",
    " ;a@x.com.br;;b@x.com.br,,c@x.com.br\n\nd@x.com.br ",
])
def test_commas_semicolons_spaces_and_newlines_separate_in_order(text):
    assert parse_recipients(text) == ["a@x.com.br", "b@x.com.br", "c@x.com.br", "d@x.com.br"]


def test_duplicates_ignoring_case_are_sent_once_first_spelling_kept():
    assert parse_recipients("Ana@X.com.br b@x.com.br ana@x.com.br ANA@x.COM.br") == ["Ana@x.com.br", "b@x.com.br"]


def test_idn_domains_go_out_as_punycode():
    assert parse_recipients("contato@münchen.de") == ["contato@xn--mnchen-3ya.de"]


def test_hyphens_inside_domain_labels_and_reserved_names_before_the_end_are_fine():
    assert parse_recipients("a@meu-dominio.com.br b@test.com.br") == ["a@meu-dominio.com.br", "b@test.com.br"]


@pytest.mark.parametrize("text", ["", "  \n ;, ", None])
def test_nothing_typed(text):
    refusal = _refusal(text)
    assert refusal.message == "Informe ao menos um destinatário."
    assert refusal.errors == []


def test_the_default_maximum_is_30_per_send():
    assert MAX_RECIPIENTS == 30
    thirty = " ".join(f"p{i}@x.com.br" for i in range(30))
    assert len(parse_recipients(thirty)) == 30
    refusal = _refusal(thirty + " p30@x.com.br")
    assert refusal.message == "Informe no máximo 30 destinatários por envio (foram informados 31)."
    assert refusal.errors == []


def test_duplicates_do_not_count_against_the_maximum():
    assert parse_recipients("a@x.com.br b@x.com.br A@x.com.br", max_count=2) == ["a@x.com.br", "b@x.com.br"]


@pytest.mark.parametrize("max_count,limit", [(5, 100), (30, 300)])
def test_a_pasted_address_book_is_refused_before_validating_each_entry(max_count, limit):
    at_limit = _refusal(" ".join(["sem-arroba"] * limit), max_count=max_count)
    assert at_limit.message.startswith("Destinatários inválidos: “sem-arroba” (falta o @); ")
    assert len(at_limit.errors) == limit
    over = _refusal(" ".join(["sem-arroba"] * (limit + 1)), max_count=max_count)
    assert over.message == (f"Informe no máximo {max_count} destinatários por envio "
                            f"(foram informados {limit + 1}).")
    assert over.errors == []


def test_one_bad_address_is_named_with_its_reason():
    refusal = _refusal("a@x.com.br sem-arroba")
    assert refusal.message == "Destinatário inválido: “sem-arroba” (falta o @)."
    assert refusal.errors == [("sem-arroba", "falta o @")]


def test_several_bad_addresses_and_too_many_good_ones_are_all_said_at_once():
    refusal = _refusal("a@x.com.br b@x.com.br c@x.com.br um dois@", max_count=2)
    assert refusal.message == (
        "Destinatários inválidos: “um” (falta o @); “dois@” (falta o domínio depois do @). "
        "Informe no máximo 2 destinatários por envio (foram informados 3).")
    assert refusal.errors == [("um", "falta o @"), ("dois@", "falta o domínio depois do @")]


def test_bad_addresses_with_exactly_the_maximum_of_good_ones_say_only_what_is_bad():
    refusal = _refusal("a@x.com.br b@x.com.br um", max_count=2)
    assert refusal.message == "Destinatário inválido: “um” (falta o @)."


@pytest.mark.parametrize("token,reason", [
    ("a\u200b@x.com.br", "contém caracteres de controle ou invisíveis"),
    ("a\x00@x.com.br", "contém caracteres de controle ou invisíveis"),
    ("mailto:a@x.com.br", "remova o prefixo “mailto:”"),
    ("MailTo:a@x.com.br", "remova o prefixo “mailto:”"),
    ("Bcc:a@x.com.br", "parece um cabeçalho de e-mail (como “Bcc:”), não um endereço"),
    ("X-Extra-1:a@x.com.br", "parece um cabeçalho de e-mail (como “Bcc:”), não um endereço"),
    ("<a@x.com.br>", "informe só o endereço, sem nome nem os sinais < >"),
    ("<a@x.com.br", "informe só o endereço, sem nome nem os sinais < >"),
    ("a@x.com.br>", "informe só o endereço, sem nome nem os sinais < >"),
    ("ax.com.br", "falta o @"),
    ("a@b@x.com.br", "contém mais de um @"),
    ("@x.com.br", "falta a parte antes do @"),
    ("a@", "falta o domínio depois do @"),
    ("joão@x.com.br", "acentos ou caracteres especiais antes do @ não são aceitos"),
    ("a@localhost", "domínio incompleto (exemplo: empresa.com.br)"),
    ("a@x.test", "domínio reservado, que não recebe e-mails"),
    ("a" * 250 + "@x.com.br", "endereço longo demais"),
    ("a@x..com.br", "há dois pontos seguidos"),
    (".a@x.com.br", "há um ponto no início, no fim ou ao lado do @"),
    ("a@-x.com.br", "o domínio não pode começar nem terminar com hífen"),
    ("a(b)@x.com.br", "contém caracteres não permitidos"),
    ('"Nome"@x.com.br', "contém caracteres não permitidos"),
    ("a.@x.com.br", "há um ponto no início, no fim ou ao lado do @"),
    ("a@.x.com.br", "há um ponto no início, no fim ou ao lado do @"),
    ("a@x.com.br.", "há um ponto no início, no fim ou ao lado do @"),
    ("a@x-.com.br", "o domínio não pode começar nem terminar com hífen"),
    ("a@x.com.br-", "o domínio não pode começar nem terminar com hífen"),
    ("a@x_y.com.br", "contém caracteres não permitidos"),
    ("a@x.TEST", "domínio reservado, que não recebe e-mails"),
    ("a@x.onion", "domínio reservado, que não recebe e-mails"),
    ("a@mail.x.invalid", "domínio reservado, que não recebe e-mails"),
    ("a@" + "b" * 64 + ".com.br", "endereço longo demais"),
    ("a@x.123", "endereço de e-mail inválido"),  # refused by email-validator (no such top-level domain)
])
def test_each_kind_of_bad_address_gets_its_own_pt_br_reason(token, reason):
    [(_, given)] = _refusal(token).errors
    assert given == reason


def test_length_limits_are_exact():
    local = "a" * 64
    at_254 = local + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 54 + ".com.br"
    assert len(at_254) == 254
    assert parse_recipients(at_254) == [at_254]
    assert _refusal(at_254.replace("@", "@e")).errors[0][1] == "endereço longo demais"
    label_63 = "a@" + "b" * 63 + ".com.br"
    assert parse_recipients(label_63) == [label_63]


def test_a_colon_inside_the_address_is_not_a_header():
    assert _refusal("1bcc:a@x.com.br").errors[0][1] != "parece um cabeçalho de e-mail (como “Bcc:”), não um endereço"


def test_bad_tokens_are_shown_with_invisible_characters_made_visible_and_cut_at_60():
    assert _refusal("a\u200b@x.com.br").errors[0][0] == "a\\u200b@x.com.br"
    assert _refusal("a\\b@x.com.br(").errors[0][0] == "a\\b@x.com.br("  # a visible backslash stays one
    exactly_60 = "b" * 59 + "@"
    assert _refusal(exactly_60).errors[0][0] == exactly_60
    too_long = "b" * 60 + "@"
    assert _refusal(too_long).errors[0][0] == "b" * 59 + "…"
