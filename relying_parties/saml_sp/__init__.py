"""A SAML 2.0 service provider (بوابة SAML التجريبية) that signs citizens in through the national IdP.

It runs OneLogin's python3-saml, not the pysaml2 the IdP runs, so each side checks the other's
XML with a different implementation. It never imports the IdP: it knows it only through the
IdP's metadata, fetched over HTTP. The app factory is `relying_parties.saml_sp.app.create_app`.
"""
