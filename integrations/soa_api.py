"""The SOA WebServices wire contract both sides share: base URLs, operation paths, answer codes.

One table, imported by the client (``integrations/serasa.py``), the configuration (``app.Config``) and the
development sandbox (``devtools/soa_sandbox.py``), so that they can never drift apart. See ``docs/soa-api.md``.
Standard library only.
"""

#: Environment → base URL (the defaults of SOA_URL_PRODUCAO, SOA_URL_HOMOLOGACAO and SOA_URL_SANDBOX).
BASE_URLS: dict[str, str] = {
    "producao": "https://services.soawebservices.com.br",
    "homologacao": "https://homologacao.soawebservices.com.br",
    "sandbox": "http://127.0.0.1:5001",
}

#: Operation → path (docs/soa-api.md). Only ``Excluir`` is confirmed by a public client; confirm the rest against
#: the account's Swagger before production and override through the client's ``paths=``. SOA (IIS) matches paths
#: case-insensitively, and so does the sandbox.
PATHS: dict[str, str] = {
    "balance": "/api/v2/Administracao/Saldo",
    "restriction_codes": "/api/v2/Serasa/Negativacoes/CodigosRestricoes",
    "exclusion_codes": "/api/v2/Serasa/Negativacoes/CodigosBaixa",
    "include": "/api/v2/Serasa/Negativacoes/Inserir",
    "consult": "/api/v2/Serasa/Negativacoes/Consultar",
    "list": "/api/v2/Serasa/Negativacoes/Listar",
    "exclude": "/api/v2/Serasa/Negativacoes/Excluir",
}

#: ``Listar``'s ``Condicao`` values.
LIST_CONDITIONS = ("Pendentes", "Ativas", "Erro", "Indisponivel", "Baixadas")

#: SOA's own answer codes (``Transacao.CodigoStatus``).
CODE_SUCCESS = "G000M001"
CODE_BAD_CREDENTIALS = "G000M000"
CODE_INVALID_DOCUMENT = "G000M003"
