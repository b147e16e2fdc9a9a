"""`make bench`: our IdP side by side with the reference OpenID provider (see bench/run.py)."""
