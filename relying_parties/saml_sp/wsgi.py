"""For gunicorn: `gunicorn --bind 127.0.0.1:5002 relying_parties.saml_sp.wsgi:app`."""
import sys

from relying_parties.saml_sp.app import create_app
from relying_parties.saml_sp.config import ConfigError

try:
    app = create_app()
except ConfigError as e:
    sys.exit(f"error: {e}")  # one line, then stop: no half-configured portal
