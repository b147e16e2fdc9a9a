"""WSGI entry point in a checkout: gunicorn wsgi:app (an installed package has idp.wsgi:app)."""
from idp.wsgi import app  # noqa: F401
