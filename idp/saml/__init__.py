"""SAML 2.0 identity provider: pysaml2 as the engine, guarded by guard.py."""
import warnings

from cryptography.utils import CryptographyDeprecationWarning

# pysaml2 7.5 imports the CFB mode that cryptography moved to its "decrepit" module; harmless here
# (we never use it), but it would print on every command.
warnings.filterwarnings("ignore", message="CFB has been moved", category=CryptographyDeprecationWarning)
