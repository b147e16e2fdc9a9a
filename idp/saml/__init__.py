"""SAML 2.0 identity provider: pysaml2 as the engine, guarded by guard.py."""
