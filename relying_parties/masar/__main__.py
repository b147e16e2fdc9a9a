"""`python -m relying_parties.masar`: the demo portal on http://127.0.0.1:5001 (werkzeug)."""
import logging
import sys
from urllib.parse import urlsplit

from relying_parties.masar.app import create_app
from relying_parties.masar.config import ConfigError


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = create_app()
    except ConfigError as e:
        sys.exit(f"error: {e}")
    # Loopback only: in production a TLS-terminating proxy (or gunicorn, see wsgi.py) faces the world.
    app.run(host="127.0.0.1", port=urlsplit(app.config["MASAR_BASE_URL"]).port or 5001, debug=False)


if __name__ == "__main__":
    main()
