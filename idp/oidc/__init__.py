"""OpenID Connect provider: pyop as the engine, our extensions in engine.py."""
