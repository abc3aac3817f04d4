"""pt-BR error pages (400, 403, 404, 405, 500): never Werkzeug's English defaults."""

from flask import render_template
from werkzeug.exceptions import HTTPException

PAGES = {
    400: ("Requisição inválida", "O pedido não pôde ser processado. Recarregue a página e tente de novo."),
    403: ("Acesso não permitido", "Seu perfil de acesso não permite esta operação."),
    404: ("Página não encontrada", "O endereço não existe ou o registro não está disponível para você."),
    405: ("Operação não permitida", "Este endereço não aceita esta operação."),
    500: ("Erro interno", "Algo deu errado do nosso lado. Nada foi alterado; tente de novo em instantes."),
}


def _render(code: int):
    title, message = PAGES[code]
    return render_template("error.html", title=title, message=message, code=code), code


def register_error_pages(app) -> None:
    """Render every listed HTTP error with the panel's pt-BR page; serve the favicon browsers ask for."""
    app.add_url_rule("/favicon.ico", "favicon",
                     lambda: app.send_static_file("favicon.svg"))
    for code in PAGES:
        app.register_error_handler(code, lambda exc, code=code: _render(code))

    @app.errorhandler(HTTPException)
    def other_http_error(exc):  # e.g. 413, 415: keep the code, explain in pt-BR
        if exc.code in PAGES:
            return _render(exc.code)
        return render_template("error.html", title="Não foi possível concluir",
                               message="O pedido não pôde ser processado.", code=exc.code), exc.code
