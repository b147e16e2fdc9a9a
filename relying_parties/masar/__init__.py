"""Masar (منصة مسار), an HR portal that signs citizens in through the national IdP with OpenID Connect.

It never imports the IdP: everything it knows comes over HTTP, from discovery, the ID token and userinfo.
The app factory is `relying_parties.masar.app.create_app`.
"""
