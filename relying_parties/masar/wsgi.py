"""For gunicorn: `gunicorn --bind 127.0.0.1:5001 relying_parties.masar.wsgi:app`."""
import sys

from relying_parties.masar.app import create_app
from relying_parties.masar.config import ConfigError

try:
    app = create_app()
except ConfigError as e:
    sys.exit(f"error: {e}")  # one line, then stop: no half-configured portal
