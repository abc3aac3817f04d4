"""The suite runs in the development environment (as `make test` does): the application's public development
keys exist only there. Tests that need production say so with APP_ENV=production and their own keys."""

import os

os.environ.setdefault("APP_ENV", "development")
