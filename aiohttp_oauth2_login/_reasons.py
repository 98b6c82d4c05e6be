"""The reason codes of failed sign-ins: what each means, what the operator checks, what the
visitor is told. Data only; ``errors`` re-exports it (``errors.REASONS``, ``errors.Reason``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["REASONS", "Reason"]


@dataclass(frozen=True, slots=True)
class Reason:
    """What one reason code means: ``meaning`` and ``check`` are for the operator (the log line
    and docs/troubleshooting.md), ``hint`` is the visitor's one sentence on the error page."""

    meaning: str
    #: what to check; may name ``{provider}``, ``{env}`` (the ``from_env`` prefix, as in
    #: ``GITHUB``), ``{redirect_uri}``, ``{issuer}``, ``{public_url}`` and ``{host}``
    check: str
    hint: str | None = None
    #: the level the failed callback is logged at: WARNING when the operator must act and the
    #: server saw the cause itself (a provider's answer); INFO for what a visitor's request alone
    #: can cause (a forged callback must not raise alerts). The callback's own ``error=`` codes
    #: are INFO whatever this says (``OAuthLoginError.visitor_input``), and at most one WARNING
    #: per reason a minute is logged (the rest at INFO)
    level: int = logging.WARNING

    def check_for(self, **context: str) -> str:
        """``check`` with the placeholders filled from ``context`` (``?`` for unknown ones)."""
        return self.check.format_map(_Unknown(context))


class _Unknown(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


_RESTART = "Please start the sign-in again from this site."
_LATER = "Please try again in a moment."
_OPERATORS = "If this keeps happening, please tell the site's operators."
_NO_COOKIE = (
    "No sign-in cookie came back. Usual causes: the sign-in started at another address "
    "(for example localhost instead of 127.0.0.1, or http instead of https), or cookies are "
    "blocked for this site."
)
_INFO = logging.INFO
_CREDENTIALS_CHECK = (
    "the client_secret (and client_id) configured for {provider}: environment variables "
    "{env}_CLIENT_SECRET / {env}_CLIENT_ID with from_env(); a secret regenerated at the provider "
    "must be copied here"
)
_REDIRECT = "register exactly this redirect URI at {provider}: {redirect_uri}"
_NETWORK = "whether {provider} is reachable from this server (DNS, proxy, firewall) and up"

#: Every reason code a failed sign-in (or a refused provider request) can carry. The codes are
#: stable: applications may match on them, so they are never renamed (tests/login pins them).
REASONS: Mapping[str, Reason] = MappingProxyType(
    {
        # -- the callback's own parameters
        "state_missing": Reason(
            "the callback has no state parameter",
            "that {provider} returns the state it was sent; a bookmarked or hand-made callback "
            "URL has none",
            _RESTART,
            _INFO,
        ),
        "state_malformed": Reason(
            "the state is repeated or not one this site makes (43 base64url characters)",
            "for an edited or truncated callback URL (a proxy or link shortener?)",
            _RESTART,
            _INFO,
        ),
        "callback_malformed": Reason(
            "a callback parameter is repeated, oversized or has control characters",
            "what rewrites the callback URL between {provider} and this app",
            _RESTART,
            _INFO,
        ),
        "code_missing": Reason(
            "the callback has neither a code nor an error",
            "that {provider} is configured for the authorization code flow (response_type=code)",
            _RESTART,
            _INFO,
        ),
        "front_channel_tokens": Reason(
            "tokens arrived in the callback URL (implicit or hybrid flow); refused (G1)",
            "that the client at {provider} uses the authorization code flow only",
            _OPERATORS,
            _INFO,
        ),
        # -- the login transaction (state, G2)
        "tx_missing": Reason(
            "no login transaction cookie of this site reached the callback",
            "that the login starts at the origin of the redirect URI {redirect_uri} (public_url: "
            "{public_url}); localhost and 127.0.0.1 are different sites; that an https site is "
            "not entered over http; that the browser accepts cookies",
            _NO_COOKIE,
            _INFO,
        ),
        "tx_unknown": Reason(
            "this browser has login transactions, but not this one: a newer login (another "
            "tab, more than 5 at once) replaced it, or another instance or a restart consumed it",
            "nothing, if rare; otherwise whether several logins start at once in one browser",
            "This sign-in was replaced by a newer one, perhaps in another tab. Please start again.",
            _INFO,
        ),
        "tx_consumed": Reason(
            "this login was already completed or failed (back button, reload, a replay): a "
            "state is used once. Seen by this process only; elsewhere it reads tx_missing or "
            "tx_unknown",
            "nothing, if rare; a proxy or scanner that fetches the callback URL twice",
            "This sign-in was already used; going back or reloading repeats it. "
            "Please start again.",
            _INFO,
        ),
        "tx_expired": Reason(
            "the login transaction is older than 10 minutes (or from the future)",
            "the server's clock if logins fail right away",
            "The sign-in took longer than 10 minutes. Please start again.",
            _INFO,
        ),
        "tx_unreadable": Reason(
            "the transaction cookie arrived but cannot be opened: another secret_key, its key "
            "cookie lost, or planted by another host",
            "that every instance has the same secret_key (no ephemeral key) and that a rotated "
            "key stays in the secret_key list for 10 minutes",
            _RESTART,
            _INFO,
        ),
        "tx_duplicate": Reason(
            "two transaction cookies of one name arrived: one was planted; neither is trusted",
            "sibling hosts that set cookies with Domain= on this site",
            _RESTART,
            _INFO,
        ),
        "tx_other_provider": Reason(
            "the login was started with another provider than the callback's",
            "the redirect URI registered at {provider}: it must be {redirect_uri}",
            _RESTART,
            _INFO,
        ),
        "host_mismatch": Reason(
            "the callback arrived for Host {host}, not public_url's, and no login transaction "
            "came with it",
            "open the app at {public_url} (cookies of one host are never sent to another), and "
            "that the proxy forwards the public Host",
            "This page was opened at another address than the site's own. Open the site at "
            "its usual address and sign in again.",
            _INFO,
        ),
        "unknown_provider": Reason(
            "the callback names a provider this app does not have",
            "the redirect URIs registered at the provider against the configured provider names",
            None,
            _INFO,
        ),
        # -- RFC 9207 (G5)
        "iss_mismatch": Reason(
            "the callback's iss differs from the issuer of {provider} (RFC 9207)",
            "the issuer configured for {provider} ({issuer}) against what it sends, exactly "
            "(scheme, trailing slash)",
            _RESTART,
            _INFO,
        ),
        "iss_missing": Reason(
            "{provider} promised an iss parameter (RFC 9207) but the callback has none",
            "iss_parameter_supported of {provider}, or what strips iss from the callback URL",
            _RESTART,
            _INFO,
        ),
        # -- the provider's error callback (RFC 6749 §4.1.2.1, G13)
        "access_denied": Reason(
            "the visitor cancelled or refused at the provider (error=access_denied)",
            "nothing: the visitor's choice (or the provider's access rules for that account)",
            None,
            _INFO,
        ),
        "provider_refused": Reason(
            "the provider answered the authorization request with an error",
            "the error code logged and the provider's own page on it",
            _OPERATORS,
            _INFO,
        ),
        "provider_unavailable": Reason(
            "the provider reported a temporary problem (server_error, temporarily_unavailable)",
            "the provider's status page",
            _LATER,
            _INFO,
        ),
        # -- the site's client settings (SignInMisconfigured, 502, no "Try again")
        "client_secret": Reason(
            "the provider refused this site's client credentials",
            _CREDENTIALS_CHECK,
        ),
        "client_id": Reason(
            "the provider does not know this site's client_id",
            "the client_id configured for {provider} (environment variable {env}_CLIENT_ID with "
            "from_env())",
        ),
        "unauthorized_client": Reason(
            "the provider does not allow this client the authorization code flow or this grant",
            "the client's registration at {provider}: web application, authorization code "
            "grant (and refresh tokens) enabled, the app not disabled",
        ),
        "client_suspended": Reason(
            "the provider suspended this site's application",
            "the application's status at {provider}",
        ),
        "redirect_uri": Reason(
            "the redirect URI is not registered at the provider",
            _REDIRECT,
        ),
        "scope": Reason(
            "the provider refused the scopes asked for",
            "the scopes configured for {provider} against the ones its client may ask for",
        ),
        "response_type": Reason(
            "the provider refused response_type=code for this client",
            "that the client at {provider} may use the authorization code flow",
        ),
        "discovery_issuer": Reason(
            "the discovery document of {provider} names another issuer",
            "issuer= of {provider}: it must equal the document's issuer exactly (trailing "
            "slash, http vs https, realm name); configured {issuer}",
        ),
        # -- the token endpoint (RFC 6749 §5.2)
        "code_rejected": Reason(
            "the provider refused the authorization code (invalid_grant): expired, already "
            "used, or redeemed with another redirect URI or PKCE verifier",
            "nothing, if rare (a slow or repeated sign-in); if every login fails: that the "
            "redirect URI {redirect_uri} is the one the login started with, and the server's "
            "clock",
            "The sign-in took too long or was already used. Please try again.",
            _INFO,
        ),
        "token_refused": Reason(
            "the token endpoint refused the request with another error code",
            "the error code logged and the client's settings at {provider}",
            _OPERATORS,
        ),
        "token_invalid": Reason(
            "the token endpoint answered 200 without a usable bearer token",
            "that {provider} issues bearer access tokens to this client",
            _OPERATORS,
        ),
        "token_status": Reason(
            "the token endpoint answered an unexpected HTTP status",
            "the token endpoint of {provider} and its status page",
            _LATER,
        ),
        "token_timeout": Reason("the token endpoint did not answer in time", _NETWORK, _LATER),
        "token_unreachable": Reason("the token endpoint could not be reached", _NETWORK, _LATER),
        "token_not_json": Reason(
            "the token endpoint answered something that is not JSON",
            "the token_url of {provider} (an HTML page: a wrong URL or a login wall)",
            _LATER,
        ),
        "token_too_large": Reason(
            "the token endpoint's answer exceeded the size cap",
            "the token_url of {provider}",
            _LATER,
        ),
        "token_redirect": Reason(
            "the token endpoint answered a redirect (never followed: G6)",
            "the token_url of {provider}: http instead of https, or an old host name",
            _LATER,
        ),
        # -- ID tokens (OIDC Core §3.1.3.7, G7, G14)
        "id_token_missing": Reason(
            "the token response has no ID token",
            "that the openid scope is granted to the client at {provider}",
            _OPERATORS,
        ),
        "id_token_malformed": Reason(
            "the ID token is not a well-formed JWS, or has an unknown crit header",
            "what {provider} issues as ID tokens",
            _OPERATORS,
        ),
        "id_token_alg": Reason(
            "the ID token's algorithm is not allowed (none, HMAC or not advertised)",
            "id_token_algorithms of {provider} and the client's signing algorithm there",
            _OPERATORS,
        ),
        "id_token_typ": Reason(
            "the ID token is typed as another kind of JWT (G14)",
            "that {provider} returns an ID token, not an access token, as id_token",
            _OPERATORS,
        ),
        "id_token_key": Reason(
            "no signing key of {provider} matches the ID token's kid",
            "the jwks_uri of {provider} (a key rotated without publishing it?)",
            _OPERATORS,
        ),
        "id_token_signature": Reason(
            "the ID token's signature does not verify",
            "the jwks_uri of {provider}, and what may alter tokens on the way",
            _OPERATORS,
        ),
        "id_token_iss": Reason(
            "the ID token's iss is not the issuer of {provider}",
            "issuer= of {provider} (configured {issuer}) against the tokens' iss",
            _OPERATORS,
        ),
        "id_token_aud": Reason(
            "the ID token is not meant for this client (aud or azp)",
            "the client_id of {provider}: the one of this application at the provider",
            _OPERATORS,
        ),
        "id_token_expired": Reason(
            "the ID token has expired (or is not yet valid), beyond 60 s of clock skew",
            "this server's clock (NTP) and the provider's",
            _OPERATORS,
        ),
        "id_token_iat": Reason(
            "the ID token's iat is in the future or older than 10 minutes",
            "this server's clock (NTP) and the provider's",
            _OPERATORS,
        ),
        "id_token_nonce": Reason(
            "the ID token's nonce is missing or not this login's",
            "that {provider} echoes the nonce; otherwise a replayed or crossed login",
            _RESTART,
        ),
        "id_token_claims": Reason(
            "the ID token lacks a required claim, or a claim has the wrong type (sub, dates)",
            "what {provider} puts in its ID tokens",
            _OPERATORS,
        ),
        # -- the profile (userinfo, GitHub / Graph API)
        "userinfo_refused": Reason(
            "the profile request was refused (401/403)",
            "the scopes of {provider} (GitHub: read:user, user:email; OIDC: openid profile)",
            _OPERATORS,
        ),
        "userinfo_invalid": Reason(
            "the profile is not a JSON object or has no usable user id",
            "the userinfo_url of {provider}",
            _OPERATORS,
        ),
        "userinfo_sub": Reason(
            "userinfo names another subject than the ID token (OIDC Core §5.3.2)",
            "the userinfo_url of {provider}",
            _OPERATORS,
        ),
        "userinfo_status": Reason(
            "the profile request answered an unexpected HTTP status",
            "the userinfo_url of {provider} and its status page",
            _LATER,
        ),
        "userinfo_timeout": Reason("the profile request did not answer in time", _NETWORK, _LATER),
        "userinfo_unreachable": Reason("the profile request failed", _NETWORK, _LATER),
        "userinfo_not_json": Reason(
            "the profile request answered something that is not JSON",
            "the userinfo_url of {provider}",
            _LATER,
        ),
        "userinfo_too_large": Reason(
            "the profile exceeded the size cap", "the userinfo_url of {provider}", _LATER
        ),
        "userinfo_redirect": Reason(
            "the profile request answered a redirect (never followed)",
            "the userinfo_url of {provider}",
            _LATER,
        ),
        # -- discovery and keys
        "discovery_status": Reason(
            "the discovery document could not be fetched (HTTP status)",
            "issuer= of {provider} ({issuer}): its /.well-known/openid-configuration",
            _LATER,
        ),
        "discovery_invalid": Reason(
            "the discovery document lacks an endpoint or names an invalid URL",
            "the discovery document of {provider}, or give the endpoints as keywords",
            _LATER,
        ),
        "discovery_timeout": Reason("discovery did not answer in time", _NETWORK, _LATER),
        "discovery_unreachable": Reason("discovery could not be reached", _NETWORK, _LATER),
        "discovery_not_json": Reason(
            "the discovery document is not JSON",
            "issuer= of {provider} ({issuer}): a wrong URL answers an HTML page",
            _LATER,
        ),
        "discovery_too_large": Reason(
            "the discovery document exceeded the size cap", "issuer= of {provider}", _LATER
        ),
        "discovery_redirect": Reason(
            "discovery answered a redirect (never followed)",
            "issuer= of {provider} ({issuer}): http vs https, trailing slash",
            _LATER,
        ),
        "jwks_status": Reason(
            "the JWKS could not be fetched or has no keys list",
            "the jwks_uri of {provider}",
            _LATER,
        ),
        "jwks_timeout": Reason("the JWKS request did not answer in time", _NETWORK, _LATER),
        "jwks_unreachable": Reason("the JWKS request failed", _NETWORK, _LATER),
        "jwks_not_json": Reason("the JWKS is not JSON", "the jwks_uri of {provider}", _LATER),
        "jwks_too_large": Reason(
            "the JWKS exceeded the size cap", "the jwks_uri of {provider}", _LATER
        ),
        "jwks_redirect": Reason(
            "the JWKS request answered a redirect (never followed)",
            "the jwks_uri of {provider}",
            _LATER,
        ),
        # -- token revocation at logout (RFC 7009): best effort, never fails the logout
        "revocation_timeout": Reason(
            "the revocation endpoint did not answer in time (the local logout completed)",
            _NETWORK,
        ),
        "revocation_unreachable": Reason(
            "the revocation endpoint could not be reached (the local logout completed)",
            _NETWORK,
        ),
        "revocation_not_json": Reason(
            "the revocation endpoint's error answer is not JSON (the local logout completed)",
            "the revocation_endpoint of {provider}",
        ),
        "revocation_too_large": Reason(
            "the revocation endpoint's answer exceeded the size cap (the local logout completed)",
            "the revocation_endpoint of {provider}",
        ),
        "revocation_redirect": Reason(
            "the revocation endpoint answered a redirect (never followed; the local logout "
            "completed)",
            "the revocation_endpoint of {provider}: http instead of https, or an old host name",
        ),
        # -- the site's own rules
        "email_domain": Reason(
            "no verified email address of allowed_email_domains",
            "allowed_email_domains (the account's email must be verified by {provider})",
            None,
            _INFO,
        ),
        "hosted_domain": Reason(
            "the Google account is not of hosted_domain",
            "Google(hosted_domain=...)",
            None,
            _INFO,
        ),
        "org_membership": Reason(
            "the GitHub account is not an active member of allowed_orgs / allowed_teams",
            "allowed_orgs / allowed_teams, the read:org scope, and the org's OAuth app policy "
            "(third-party access must be approved for this app)",
            None,
            _INFO,
        ),
        "on_login_refused": Reason(
            "the on_login hook refused the sign-in",
            "the application's on_login hook",
            None,
            _INFO,
        ),
        "on_login_error": Reason(
            "the on_login hook raised an exception (logged with its traceback)",
            "the application's on_login hook",
            _OPERATORS,
        ),
        "session_too_large": Reason(
            "the tokens of {provider} do not fit in cookie sessions",
            "use server-side sessions (redis_url=) or ask {provider} for fewer scopes",
            None,
        ),
        "unexpected": Reason(
            "an answer of {provider} that nothing anticipated (logged with type and place)",
            "the ERROR line above, and report it to the library",
            _OPERATORS,
        ),
    }
)
