"""`python -m relying_parties.saml_sp`: the demo SP on http://127.0.0.1:5002 (werkzeug).

`python -m relying_parties.saml_sp metadata > sp.xml` prints its metadata instead, for
`idp rp register-saml --name NAME --metadata sp.xml --require-signed-requests`.
"""
import logging
import sys
from urllib.parse import urlsplit

from relying_parties.saml_sp.app import create_app
from relying_parties.saml_sp.config import ConfigError

USAGE = "usage: python -m relying_parties.saml_sp [metadata]"


def main(argv: list[str]) -> None:
    if argv not in ([], ["metadata"]):
        sys.exit(USAGE)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = create_app()
    except ConfigError as e:
        sys.exit(f"error: {e}")
    if argv == ["metadata"]:
        sys.stdout.write(app.extensions["saml_sp.metadata"] + "\n")
        return
    # Loopback only: in production a TLS-terminating proxy (or gunicorn, see wsgi.py) faces the world.
    app.run(host="127.0.0.1", port=urlsplit(app.config["SAMLSP_BASE_URL"]).port or 5002, debug=False)


if __name__ == "__main__":
    main(sys.argv[1:])
