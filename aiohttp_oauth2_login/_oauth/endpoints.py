"""What the back channel needs to know about a client and its provider's endpoints.

``Endpoints`` are a provider's resolved URLs (OIDC: from discovery); ``OAuthClient`` is the
structural type the RFC 6749 requests are written against — ``providers.Provider`` satisfies it
without this package importing the providers (the back channel never does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from yarl import URL

from ..errors import ConfigurationError

__all__ = ["RESERVED_PARAMS", "ClientAuth", "Endpoints", "OAuthClient", "check_endpoint"]

ClientAuth = Literal["client_secret_basic", "client_secret_post", "none"]
#: authorization-request parameters the flow sets; extra parameters may never override them
RESERVED_PARAMS = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "response_mode",
        "request",
        "request_uri",
    }
)


def check_endpoint(url: str | None, what: str, *, required: bool = False) -> str | None:
    """Validate a configured endpoint: an absolute http(s) URL without credentials or fragment."""
    if url is None:
        if required:
            raise ConfigurationError(f"{what} is required")
        return None
    if not isinstance(url, str):
        raise ConfigurationError(f"{what} must be a string URL")
    parsed = URL(url)
    if parsed.scheme not in ("https", "http") or not parsed.host:
        raise ConfigurationError(f"{what} must be an absolute http(s) URL, got {url!r}")
    if parsed.user is not None or parsed.password is not None or parsed.fragment:
        raise ConfigurationError(f"{what} must not contain credentials or a fragment")
    return url


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoints:
    """A provider's endpoints and metadata, resolved (OIDC: from discovery)."""

    authorize_url: str
    token_url: str
    userinfo_url: str | None = None
    revocation_url: str | None = None
    end_session_url: str | None = None
    jwks_uri: str | None = None
    issuer: str | None = None
    iss_parameter_supported: bool = False
    id_token_algorithms: tuple[str, ...] = ("RS256",)


class OAuthClient(Protocol):
    """A registered client of an authorization server, as the token requests see it."""

    @property
    def name(self) -> str: ...

    @property
    def client_id(self) -> str: ...

    @property
    def client_secret(self) -> str | None: ...

    @property
    def client_auth(self) -> ClientAuth: ...

    @property
    def scopes(self) -> Sequence[str]: ...

    def extra_authorize_params(self) -> dict[str, str]: ...

    def token_request_headers(self) -> Mapping[str, str]: ...
