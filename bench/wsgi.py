"""WSGI entry for the load run: the panel at /, and a bare Flask endpoint at /bare/ in the same server.

    BENCH_DATABASE_URL=sqlite:////abs/path/bench.db gunicorn -w 2 -b 127.0.0.1:8123 bench.wsgi:application
"""

import os

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from app import create_app

panel = create_app({"SQLALCHEMY_DATABASE_URI": os.environ["BENCH_DATABASE_URL"]})

bare = Flask("bare")


@bare.get("/")
def hello():
    return "ok"


application = DispatcherMiddleware(panel, {"/bare": bare})
