"""The WSGI application, importable from an installed package: gunicorn idp.wsgi:app
(the checkout's top-level wsgi.py is the same app, for `gunicorn wsgi:app` in a checkout)."""
from idp import create_app

app = create_app()
