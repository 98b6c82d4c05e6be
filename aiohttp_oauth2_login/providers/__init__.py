"""OAuth 2.0 and OpenID Connect providers: generic ones and presets."""

from .base import ClientAuth, Endpoints, Provider
from .facebook import Facebook
from .github import GitHub
from .google import Google
from .oauth2 import OAuth2Provider
from .oidc import OIDCProvider

__all__ = [
    "ClientAuth",
    "Endpoints",
    "Facebook",
    "GitHub",
    "Google",
    "OAuth2Provider",
    "OIDCProvider",
    "Provider",
]
