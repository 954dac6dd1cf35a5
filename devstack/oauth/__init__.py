"""A small OAuth 2.0 / OpenID Connect authorization server for tests (see server.py)."""
from .authority import Authority, OAuthError  # noqa: F401
from .server import OAuthServer  # noqa: F401
