"""Development tools: the SOA sandbox, the SMTP catcher, demo data and the development CLI commands.

Nothing here is part of the production package (``pip install .`` leaves this folder out and does not install its
dependencies, such as aiosmtpd, which come with the ``dev`` extra); the panel imports it only when
``APP_ENV=development`` (``make run``, ``make test``).
"""
