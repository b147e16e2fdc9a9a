"""Sign-in decisions shared by every protocol (no Flask here).

`levels` declares the levels of assurance once, with their OIDC and SAML names; `decision` answers,
for a pending request of any protocol, what the citizen's browser must do next; `pending` keeps the
requests waiting for a sign-in. The OIDC and SAML views are thin adapters over these.
"""
