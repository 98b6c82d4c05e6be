"""The plugin's pages (chooser, sign-out confirmation, errors, the 403 of ``@login_required``):
wording, the visitor's language, the site name, provider icons, the app's ``render=`` hook and
its aiohttp-jinja2 templates, ``login_context`` for the app's own templates."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp_jinja2
import jinja2
import pytest
from aiohttp import web

from aiohttp_oauth2_login import (
    ConfigurationError,
    PageContext,
    login_context,
    login_required,
)
from aiohttp_oauth2_login._pages.i18n import choose_language
from aiohttp_oauth2_login.providers import Facebook, GitHub, Google
from aiohttp_oauth2_login.testing import FakeProvider, login_as, oidc_provider_for

from ..support.app import HTML, JSON, KEY, Client, MakeClient, build_app
from ..support.callbacks import begin, deliver
from ..support.html import PageTags

OFFERED = ("en", "de", "fr", "es", "zh")
GERMAN = {**HTML, "Accept-Language": "de-DE,de;q=0.9,en;q=0.8"}


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("fr-CH, fr;q=0.9, en;q=0.8", "fr"),
        ("es-419,es;q=0.9", "es"),
        ("zh-CN,zh;q=0.9", "zh"),
        ("zh-Hans-CN", "zh"),
        ("zh", "zh"),
        ("zh-SG", "zh"),
        ("zh-TW", "en"),  # Traditional script: not the Simplified catalog
        ("zh-Hant, de;q=0.5", "de"),
        ("ja,ko;q=0.5", "en"),
        ("en;q=0.1, de;q=0.5", "de"),  # q-values, not order
        ("de;q=0, fr;q=0.2", "fr"),  # q=0: not acceptable
        ("de;q=0", "en"),
        ("*", "en"),
        ("", "en"),
        ("de;q=abc, fr", "fr"),  # a malformed item is skipped
        ("d\u00e9, es", "es"),
        (",,,;;;", "en"),
        ("x" * 5000 + ",de", "en"),  # only the header's head is read
        ("en-GB,en;q=0.9", "en"),
        ("DE-at", "de"),
    ],
)
def test_the_language_follows_accept_language(header: str, chosen: str) -> None:
    assert choose_language(header, OFFERED) == chosen


def test_the_first_offered_language_is_the_fallback() -> None:
    assert choose_language("ja", ("fr", "en")) == "fr"
    assert choose_language(None, ("de",)) == "de"


# ---- the chooser -------------------------------------------------------------------------------


def _presets() -> list[Any]:
    return [
        GitHub(client_id="gh", client_secret="s"),
        Google(client_id="g", client_secret="s"),
        Facebook(client_id="f", client_secret="s"),
    ]


async def _client(aiohttp_client: Any, providers: list[Any], **options: Any) -> Client:
    client: Client = await aiohttp_client(build_app(providers, **options))
    return client


async def test_chooser_has_a_branded_button_per_provider(
    aiohttp_client: Any, fake: FakeProvider
) -> None:
    client = await _client(aiohttp_client, [*_presets(), oidc_provider_for(fake)])
    resp = await client.get("/auth/login?next=/cart", headers=HTML)
    text = await resp.text()
    assert resp.status == 200
    assert '<html lang="en">' in text
    for brand in ("github", "google", "facebook", "generic"):
        assert f'class="btn p-{brand}"' in text, brand
    assert text.count("<svg ") == 4
    assert 'aria-hidden="true"' in text
    assert "Sign in with GitHub</span>" in text
    assert "/auth/login/github?next=/cart" in text
    # the icons are inline: nothing on the page is fetched from anywhere
    tags = PageTags(text)
    assert "img" not in tags.tags and "link" not in tags.tags and "script" not in tags.tags
    assert resp.headers["Content-Security-Policy"].startswith("default-src 'none';")


@pytest.mark.parametrize(
    ("accept", "lang", "heading", "button"),
    [
        ("de", "de", "Anmelden", "Mit GitHub anmelden"),
        ("fr-FR", "fr", "Connexion", "Se connecter avec GitHub"),
        ("es-ES", "es", "Iniciar sesión", "Iniciar sesión con GitHub"),
        ("zh-CN", "zh-Hans", "登录", "使用 GitHub 登录"),
    ],
)
async def test_chooser_in_the_browsers_language(
    aiohttp_client: Any, accept: str, lang: str, heading: str, button: str
) -> None:
    client = await _client(aiohttp_client, _presets())
    resp = await client.get("/auth/login", headers={**HTML, "Accept-Language": accept})
    text = await resp.text()
    assert f'<html lang="{lang}">' in text
    assert f"<h1>{heading}</h1>" in text
    assert f"<span>{button}</span>" in text


async def test_chooser_json_lists_the_providers_untranslated(aiohttp_client: Any) -> None:
    client = await _client(aiohttp_client, _presets())
    resp = await client.get("/auth/login", headers={**JSON, "Accept-Language": "de"})
    data = await resp.json()
    assert [p["title"] for p in data["providers"]] == ["GitHub", "Google", "Facebook"]


async def test_site_name_in_the_header_and_title_escaped(aiohttp_client: Any) -> None:
    client = await _client(aiohttp_client, _presets(), site_name="Tom & <Jerry>'s shop")
    text = await (await client.get("/auth/login", headers=HTML)).text()
    assert "<header>Tom &amp; &lt;Jerry&gt;&#x27;s shop</header>" in text
    assert "<title>Sign in \u00b7 Tom &amp; &lt;Jerry&gt;&#x27;s shop</title>" in text
    assert "<Jerry>" not in text


# ---- errors ------------------------------------------------------------------------------------


async def test_cancel_is_titled_cancelled_in_the_visitors_language(client: Client) -> None:
    cb = await begin(client)
    params = [*cb.replaced("code"), ("error", "access_denied")]
    resp = await deliver(client, cb, params, headers=GERMAN)
    text = await resp.text()
    assert resp.status == 403
    assert '<html lang="de">' in text
    assert "<h1>Anmeldung abgebrochen</h1>" in text
    assert "Die Anmeldung wurde abgebrochen." in text
    assert "Erneut versuchen" in text  # retryable
    assert "refused" not in text.lower()


async def test_cancel_in_english_is_not_refused(client: Client) -> None:
    cb = await begin(client)
    resp = await deliver(client, cb, [*cb.replaced("code"), ("error", "access_denied")])
    text = await resp.text()
    assert "<h1>Sign-in cancelled</h1>" in text
    assert ">Try again</a>" in text


async def test_a_formatted_description_is_translated_with_its_value(client: Client) -> None:
    cb = await begin(client)
    resp = await deliver(client, cb, [*cb.params, ("state", "again")], headers=GERMAN)
    text = await resp.text()
    assert resp.status == 400
    assert "Die Anmeldeantwort wiederholt den Parameter &#x27;state&#x27;." in text


async def test_refused_logout_is_titled_sign_out_refused(client: Client) -> None:
    resp = await client.post(
        "/auth/logout", headers={**HTML, "Origin": "https://evil.example"}, allow_redirects=False
    )
    text = await resp.text()
    assert resp.status == 403
    assert "<h1>Sign-out refused</h1>" in text
    assert "Sign-in" not in text
    assert "Try again" not in text  # not retryable


async def test_not_retryable_errors_have_no_try_again(client: Client) -> None:
    resp = await client.get("/auth/login/nope", headers=GERMAN)
    text = await resp.text()
    assert resp.status == 404
    assert "<h1>Nicht gefunden</h1>" in text
    assert "Erneut versuchen" not in text


async def test_json_errors_stay_english_and_unhooked(make_client: MakeClient) -> None:
    seen: list[PageContext] = []

    def render(request: web.Request, ctx: PageContext) -> str:
        seen.append(ctx)
        return "hooked"

    client = await make_client(render=render)
    resp = await client.get("/auth/login/nope", headers={**JSON, "Accept-Language": "de"})
    assert resp.status == 404
    assert (await resp.json())["error_description"] == "There is no such sign-in provider."
    assert seen == []


async def test_forbidden_page_of_login_required_is_translated(
    aiohttp_client: Any, fake: FakeProvider
) -> None:
    app = build_app([oidc_provider_for(fake)])

    @login_required(allow=lambda user: False)
    async def nobody(request: web.Request) -> web.Response:
        raise AssertionError("not reached")

    app.router.add_get("/nobody", nobody)
    client: Client = await aiohttp_client(app)
    await login_as(client, "alice")
    resp = await client.get("/nobody", headers=GERMAN)
    text = await resp.text()
    assert resp.status == 403
    assert "<h1>Zugriff verweigert</h1>" in text
    assert "Sie sind angemeldet, dürfen diese Seite aber nicht öffnen." in text
    assert resp.headers["X-Frame-Options"] == "DENY"


# ---- the sign-out confirmation -----------------------------------------------------------------


async def test_logout_page_shows_who_is_signed_in_escaped(make_client: MakeClient) -> None:
    client = await make_client(site_name="Shop")
    await login_as(client, "<b>alice</b>")
    resp = await client.get("/auth/logout?next=/cart", headers=HTML)
    text = await resp.text()
    assert resp.status == 200
    assert "<strong>&lt;b&gt;alice&lt;/b&gt;</strong>" in text
    assert "<b>alice" not in text
    assert "Signed in with" in text
    assert '<a class="btn" href="/cart">Stay signed in</a>' in text
    assert 'name="next" value="/cart"' in text


async def test_logout_page_in_french_when_anonymous(client: Client) -> None:
    headers = {**HTML, "Accept-Language": "fr"}
    text = await (await client.get("/auth/logout?next=//evil.example", headers=headers)).text()
    assert "Vous n’êtes pas connecté." in text
    assert '<button class="primary" type="submit">Se déconnecter</button>' in text
    assert '<a class="btn" href="/">Rester connecté</a>' in text  # an unsafe next: default_next
    assert "evil.example" not in text


async def test_logout_page_names_the_providers_title(
    aiohttp_client: Any, fake: FakeProvider
) -> None:
    client = await _client(aiohttp_client, [oidc_provider_for(fake, title="Acme SSO")])
    await login_as(client, "alice")
    text = await (await client.get("/auth/logout", headers=GERMAN)).text()
    assert "Angemeldet über Acme SSO" in text


# ---- the app's look: render= hook --------------------------------------------------------------


async def test_render_hook_gets_a_typed_context_and_the_plugin_keeps_its_headers(
    make_client: MakeClient,
) -> None:
    seen: list[PageContext] = []

    async def render(request: web.Request, ctx: PageContext) -> web.Response:
        seen.append(ctx)
        headers = {"Content-Security-Policy": "default-src *", "X-Frame-Options": "ALLOWALL"}
        return web.Response(text=f"<p>{ctx.kind}</p>", content_type="text/html", headers=headers)

    client = await make_client(render=render, site_name="Shop")
    resp = await client.get("/auth/login?next=/x", headers=GERMAN)
    assert await resp.text() == "<p>chooser</p>"
    assert resp.headers["Content-Security-Policy"].startswith("default-src 'none';")
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Cache-Control"] == "no-store"
    ctx = seen[0]
    assert (ctx.kind, ctx.language, ctx.html_lang, ctx.site_name) == ("chooser", "de", "de", "Shop")
    assert ctx.title == "Anmelden"
    assert ctx.next == "/x"
    assert [b.label for b in ctx.providers] == ["Mit Fake anmelden"]
    assert ctx.gettext("Sign out") == "Abmelden"
    assert ctx.gettext("An app's own text") == "An app's own text"


async def test_render_hook_keeps_the_errors_status(make_client: MakeClient) -> None:
    seen: list[PageContext] = []

    def render(request: web.Request, ctx: PageContext) -> web.Response:
        seen.append(ctx)
        return web.Response(text=ctx.title, status=200)

    client = await make_client(render=render)
    resp = await client.get("/auth/login/nope", headers=HTML)
    assert resp.status == 404
    assert await resp.text() == "Not found"
    assert seen[0].error is not None and seen[0].status == 404


@pytest.mark.parametrize(
    "outcome",
    ["raise", "none", "wrong_type", "prepared"],
)
async def test_a_failing_or_declining_hook_means_the_built_in_page(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, outcome: str
) -> None:
    async def render(request: web.Request, ctx: PageContext) -> Any:
        if outcome == "raise":
            raise RuntimeError("secret-ish detail")
        if outcome == "wrong_type":
            return 42
        if outcome == "prepared":
            return web.HTTPFound("/elsewhere")
        return None

    client = await make_client(render=render)
    with caplog.at_level(logging.ERROR, logger="aiohttp_oauth2_login"):
        resp = await client.get("/auth/logout", headers=HTML)
    text = await resp.text()
    assert resp.status == 200
    assert '<form method="post" action="/auth/logout">' in text
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    if outcome == "none":
        assert errors == []
    else:
        assert len(errors) == 1 and "render hook failed for the logout page" in errors[0]
        assert "secret-ish" not in errors[0]


async def test_the_logout_pages_csp_survives_the_hook(make_client: MakeClient) -> None:
    client = await make_client(render=lambda request, ctx: "<p>mine</p>")
    resp = await client.get("/auth/logout", headers=HTML)
    assert await resp.text() == "<p>mine</p>"
    assert "form-action 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.content_type == "text/html"


# ---- the app's look: aiohttp-jinja2 templates --------------------------------------------------

TEMPLATES = {
    "oauth/chooser.html": (
        "<h1>{{ page.title }} @ {{ page.site_name }}</h1>"
        "{% for b in page.providers %}<a href='{{ b.login_url }}'>{{ b.icon_svg|safe }}"
        "{{ b.label }}</a>{% endfor %}{{ page.gettext('Sign out') }}"
    ),
    "oauth/error.html": "{{ page.title }}: {{ page.texts.description }} {{ nope.attr }}",
}


async def _jinja_client(aiohttp_client: Any, fake: FakeProvider, **options: Any) -> Client:
    app = build_app([oidc_provider_for(fake)], **options)
    aiohttp_jinja2.setup(app, loader=jinja2.DictLoader(TEMPLATES))
    client: Client = await aiohttp_client(app)
    return client


async def test_the_apps_jinja_template_draws_the_chooser(
    aiohttp_client: Any, fake: FakeProvider
) -> None:
    client = await _jinja_client(aiohttp_client, fake, site_name="<Shop>")
    resp = await client.get("/auth/login", headers=GERMAN)
    text = await resp.text()
    assert text.startswith("<h1>Anmelden @ &lt;Shop&gt;</h1>")  # autoescaped
    assert "<svg " in text and "Mit Fake anmelden</a>" in text and text.endswith("Abmelden")
    assert resp.headers["Content-Security-Policy"].startswith("default-src 'none';")


async def test_a_missing_or_failing_template_means_the_built_in_page(
    aiohttp_client: Any, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    client = await _jinja_client(aiohttp_client, fake)
    logout = await (await client.get("/auth/logout", headers=HTML)).text()  # no template
    assert '<form method="post" action="/auth/logout">' in logout
    with caplog.at_level(logging.ERROR, logger="aiohttp_oauth2_login"):
        resp = await client.get("/auth/login/nope", headers=HTML)  # its template fails
    assert resp.status == 404
    assert "<h1>Not found</h1>" in await resp.text()
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(logged) == 1 and "template oauth/error.html failed" in logged[0]


async def test_a_raising_template_is_logged_and_replaced(
    aiohttp_client: Any, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    app = build_app([oidc_provider_for(fake)])
    aiohttp_jinja2.setup(app, loader=jinja2.DictLoader({"oauth/chooser.html": "{{ 1 // 0 }}"}))
    client: Client = await aiohttp_client(app)
    with caplog.at_level(logging.ERROR, logger="aiohttp_oauth2_login"):
        resp = await client.get("/auth/login", headers=HTML)
    assert resp.status == 200
    assert "Sign in with Fake</span>" in await resp.text()
    assert any("template oauth/chooser.html failed" in r.getMessage() for r in caplog.records)


# ---- translations= and languages= --------------------------------------------------------------


async def test_the_app_overrides_and_adds_translations(make_client: MakeClient) -> None:
    client = await make_client(
        translations={
            "de": {"Sign in": "Einloggen"},
            "nl": {"Sign in": "Inloggen", "Sign in with {provider}": "Inloggen met {provider}"},
        }
    )
    german = await (await client.get("/auth/login", headers=GERMAN)).text()
    assert "<h1>Einloggen</h1>" in german
    assert "Mit Fake anmelden" in german  # the rest of the built-in catalog still applies
    dutch = await (
        await client.get("/auth/login", headers={**HTML, "Accept-Language": "nl"})
    ).text()
    assert '<html lang="nl">' in dutch
    assert "<h1>Inloggen</h1>" in dutch and "Inloggen met Fake" in dutch
    assert "Choose how to sign in." in dutch  # untranslated: English


async def test_languages_forces_one_language(make_client: MakeClient) -> None:
    client = await make_client(languages=["fr"])
    for accept in ("de", "en", "zh-CN", ""):
        headers = {**HTML, "Accept-Language": accept}
        text = await (await client.get("/auth/login", headers=headers)).text()
        assert '<html lang="fr">' in text and "<h1>Connexion</h1>" in text


async def test_languages_limit_the_choice_in_order(make_client: MakeClient) -> None:
    client = await make_client(languages=["es", "en"])
    german = {**HTML, "Accept-Language": "de-DE,de;q=0.9"}
    text = await (await client.get("/auth/login", headers=german)).text()
    assert '<html lang="es">' in text  # German is not offered: the first one is the default
    with_english = await (await client.get("/auth/login", headers=GERMAN)).text()
    assert '<html lang="en">' in with_english  # de, then en;q=0.8: English is offered
    english = {**HTML, "Accept-Language": "en-US"}
    assert '<html lang="en">' in await (await client.get("/auth/login", headers=english)).text()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"site_name": ""}, "site_name"),
        ({"site_name": "a\nb"}, "site_name"),
        ({"site_name": "x" * 101}, "site_name"),
        ({"site_name": 3}, "site_name"),
        ({"render": "template.html"}, "render"),
        ({"translations": {"de": "Anmelden"}}, "translations"),
        ({"translations": {"not a tag": {}}}, "translations"),
        ({"translations": {"de": {"Sign in": 1}}}, "translations"),
        ({"translations": ["de"]}, "translations"),
        ({"languages": "de"}, "languages"),
        ({"languages": []}, "languages"),
        ({"languages": ["nl"]}, "no catalog"),
        ({"carry_session_keys": "cart"}, "carry_session_keys"),
        ({"carry_session_keys": ["oauth"]}, "carry_session_keys"),
        ({"carry_session_keys": [""]}, "carry_session_keys"),
    ],
)
def test_page_options_are_checked_at_setup(options: dict[str, Any], message: str) -> None:
    from aiohttp_oauth2_login import setup_oauth

    provider = GitHub(client_id="gh", client_secret="s")
    with pytest.raises(ConfigurationError, match=message):
        setup_oauth(web.Application(), providers=[provider], secret_key=KEY, **options)


# ---- login_context: the app's own templates ----------------------------------------------------


async def _context_json(request: web.Request) -> web.Response:
    ctx = await login_context(request)
    return web.json_response(
        {
            "user": ctx.user.id if ctx.user else None,
            "labels": [b.label for b in ctx.providers],
            "urls": [b.login_url for b in ctx.providers],
            "brands": [b.brand for b in ctx.providers],
            "login_url": ctx.login_url,
            "logout_url": ctx.logout_url,
            "next": ctx.next,
            "language": ctx.language,
            "sign_out": ctx.gettext("Sign out"),
        }
    )


async def test_login_context_gives_buttons_and_the_user(
    aiohttp_client: Any, fake: FakeProvider
) -> None:
    app = build_app([GitHub(client_id="gh", client_secret="s"), oidc_provider_for(fake)])
    app.router.add_get("/shop", _context_json)
    client: Client = await aiohttp_client(app)
    data = await (await client.get("/shop?page=2", headers={"Accept-Language": "es"})).json()
    assert data == {
        "user": None,
        "labels": ["Iniciar sesión con GitHub", "Iniciar sesión con Fake"],
        "urls": [
            "/auth/login/github?next=/shop?page%3D2",
            "/auth/login/fake?next=/shop?page%3D2",
        ],
        "brands": ["github", "generic"],
        "login_url": "/auth/login?next=/shop?page%3D2",
        "logout_url": "/auth/logout",
        "next": "/shop?page=2",
        "language": "es",
        "sign_out": "Cerrar sesión",
    }
    await login_as(client, "alice", provider="fake")
    assert (await (await client.get("/shop")).json())["user"] == "alice"
