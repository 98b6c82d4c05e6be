"""The plugin's pages: built from a ``PageContext``, drawn by the app's hook, its
``oauth/<kind>.html`` Jinja template or the built-in HTML, always with the plugin's headers.

Whatever draws the page, the security headers (CSP ``default-src 'none'``, no caching, no
framing) and the status are the plugin's; a hook or template that fails is logged and the
built-in page is served instead: never a 500.
"""

from __future__ import annotations

import html
import inspect
import sys
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from ..errors import OAuthLoginError
from ..log import logger
from ..user import User
from .context import PAGES_KEY, PageContext, PageKind, PageSettings, ProviderButton
from .headers import SECURITY_HEADERS, json_response, wants_json
from .i18n import Translator, html_lang
from .icons import brand

__all__ = [
    "PAGE_TEXTS",
    "error_context",
    "error_page",
    "error_response",
    "page",
    "page_context",
    "provider_button",
    "render_page",
    "settings_of",
    "translator_for",
]

#: every English text the built-in pages use besides the errors' own (the catalogs' checklist)
PAGE_TEXTS = (
    "Sign in",
    "Choose how to sign in.",
    "Sign in with {provider}",
    "Sign out",
    "Do you want to sign out?",
    "Signed in with {provider}",
    "You are not signed in.",
    "Stay signed in",
    "The sign-in provider said: \u201c{text}\u201d",
    "Error: {code}",
    "Try again",
    "Access denied",
    "You are signed in but may not open this page.",
)

_STYLE = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","PingFang SC",
"Microsoft YaHei",sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{max-width:28rem;margin:8vh auto 0;padding:0 1rem;color:#424a5b;font-weight:600}
main{max-width:28rem;margin:1rem auto 12vh;background:#fff;border-radius:12px;
padding:2rem 2.25rem;box-shadow:0 1px 3px rgba(0,0,0,.08),0 8px 24px rgba(0,0,0,.06);
overflow-wrap:anywhere}
@media (max-width:30rem){main{margin:1rem .75rem;padding:1.5rem 1.25rem}}
h1{font-size:1.35rem;margin:0 0 1rem}
p{margin:.5rem 0 1rem;color:#424a5b}
.btn,button{display:flex;align-items:center;justify-content:center;gap:.6rem;width:100%;
box-sizing:border-box;margin:.5rem 0;padding:.7rem 1rem;border:1px solid #c9ced8;
border-radius:8px;background:#fff;color:#1d2330;font:inherit;text-align:center;
text-decoration:none;cursor:pointer}
.btn:hover,button:hover{filter:brightness(.95)}
button.primary{background:#1d4ed8;border-color:#1d4ed8;color:#fff}
.icon{width:20px;height:20px;flex:none}
.who{display:flex;gap:.75rem;align-items:center;padding:.75rem 1rem;margin:0 0 1rem;
border:1px solid #e3e6ec;border-radius:8px}
.who div{min-width:0}.who small{display:block;color:#6b7280}
.code{font:13px ui-monospace,monospace;color:#6b7280}
"""


def settings_of(request: web.Request) -> PageSettings:
    """The page settings of the nearest ``setup_oauth`` (defaults outside of one)."""
    return request.config_dict.get(PAGES_KEY) or PageSettings()


def translator_for(request: web.Request) -> Translator:
    """The translator of this request: the site's catalogs, the browser's language."""
    languages = settings_of(request).translations
    return languages.translator(request.headers.get("Accept-Language"))


def provider_button(
    t: Translator, *, name: str, title: str, login_url: str, kind: str
) -> ProviderButton:
    """A "Sign in with …" button for a provider; ``kind`` is its preset's ``default_name``."""
    key, look = brand(kind)
    return ProviderButton(
        name=name,
        title=title,
        label=t("Sign in with {provider}", provider=title),
        login_url=login_url,
        brand=key,
        icon_svg=look.icon_svg,
        color=look.color,
        text_color=look.text_color,
        border_color=look.border_color,
    )


def page_context(
    request: web.Request,
    kind: PageKind,
    title: str,
    *,
    t: Translator | None = None,
    **fields: Any,
) -> PageContext:
    """A ``PageContext`` for this request (its language, the site's name); ``title`` in English."""
    t = t or translator_for(request)
    return PageContext(
        kind=kind,
        title=t(title),
        language=t.language,
        html_lang=html_lang(t.language),
        site_name=settings_of(request).site_name,
        gettext=t,
        **fields,
    )


def error_context(
    request: web.Request, exc: OAuthLoginError, *, retry_url: str | None = None
) -> PageContext:
    """The error page's context: title, description, hint and (if retrying helps) "Try again"."""
    t = translator_for(request)
    texts = {"description": t(exc.description), "error_code": t("Error: {code}", code=exc.error)}
    if exc.provider_description:  # the provider's words, labelled as such; never a link
        said = "The sign-in provider said: \u201c{text}\u201d"
        texts["provider_said"] = t(said, text=exc.provider_description)
    if exc.hint:
        texts["hint"] = t(exc.hint)
    links = {}
    if retry_url is not None and exc.retryable:
        texts["retry"] = t("Try again")
        links["retry"] = retry_url
    return page_context(
        request, "error", exc.title, t=t, status=exc.status, texts=texts, links=links, error=exc
    )


def _json_error(exc: OAuthLoginError) -> web.Response:
    data = {"error": exc.error, "error_description": exc.description}
    if exc.reason is not None:
        data["reason"] = exc.reason
    return json_response(data, status=exc.status)


def error_response(
    request: web.Request, exc: OAuthLoginError, *, retry_url: str | None = None
) -> web.Response:
    """The built-in error page (or JSON) for ``exc``, translated; no hook (synchronous).
    Handlers use :func:`error_page`, which lets the app's hook draw it."""
    if wants_json(request):
        return _json_error(exc)
    return _builtin(error_context(request, exc, retry_url=retry_url))


async def error_page(
    request: web.Request, exc: OAuthLoginError, *, retry_url: str | None = None
) -> web.Response:
    """The error page (or JSON) for ``exc``: its status, its safe description, nothing else."""
    if wants_json(request):
        return _json_error(exc)
    return await render_page(request, error_context(request, exc, retry_url=retry_url))


def page(title: str, body: str, *, status: int = 200, lang: str = "en") -> web.Response:
    """A complete built-in HTML page; ``body`` must already be escaped HTML."""
    return _html_response(_document(title, body, lang=lang, site_name=None), status)


def _html_response(text: str, status: int) -> web.Response:
    return web.Response(
        text=text, status=status, content_type="text/html", headers=SECURITY_HEADERS
    )


def _document(title: str, body: str, *, lang: str, site_name: str | None) -> str:
    head_title = html.escape(title if site_name is None else f"{title} \u00b7 {site_name}")
    header = "" if site_name is None else f"<header>{html.escape(site_name)}</header>"
    return (
        f'<!doctype html><html lang="{html.escape(lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{head_title}</title><style>{_STYLE}</style></head>"
        f"<body>{header}<main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )


def _button_style(buttons: Sequence[ProviderButton]) -> str:
    """One CSS rule per brand shown (classes, not style attributes)."""
    rules = {
        b.brand: f".p-{b.brand}{{background:{b.color};color:{b.text_color};"
        f"border-color:{b.border_color}}}"
        for b in buttons
    }
    return "".join(rules.values())


def _who(user: User, signed_in_with: str) -> str:
    """Who is signed in: name (or username, email, id), email, and with which provider."""
    name = user.name or user.username or user.email or user.id
    lines = [f"<strong>{html.escape(name)}</strong>"]
    if user.email and user.email != name:
        lines.append(f"<small>{html.escape(user.email)}</small>")
    lines.append(f"<small>{html.escape(signed_in_with)}</small>")
    return f'<div class="who"><div>{"".join(lines)}</div></div>'


def _body(ctx: PageContext) -> str:
    texts, links, e = ctx.texts, ctx.links, html.escape
    if ctx.kind == "chooser":
        style = f"<style>{_button_style(ctx.providers)}</style>" if ctx.providers else ""
        buttons = "".join(
            f'<a class="btn p-{b.brand}" href="{e(b.login_url)}">{b.icon_svg}'
            f"<span>{e(b.label)}</span></a>"
            for b in ctx.providers
        )
        return f"{style}<p>{e(texts['intro'])}</p>{buttons}"
    if ctx.kind == "logout":
        if ctx.user is not None and "signed_in_with" in texts:
            head = _who(ctx.user, texts["signed_in_with"])
        else:
            head = f"<p>{e(texts['not_signed_in'])}</p>"
        stay = links.get("stay")
        stay_link = f'<a class="btn" href="{e(stay)}">{e(texts["stay"])}</a>' if stay else ""
        return (
            f"{head}<p>{e(texts['question'])}</p>"
            f'<form method="post" action="{e(links["logout"])}">'
            f'<input type="hidden" name="next" value="{e(ctx.next or "")}">'
            f'<button class="primary" type="submit">{e(texts["sign_out"])}</button></form>'
            f"{stay_link}"
        )
    body = f"<p>{e(texts['description'])}</p>"
    if "provider_said" in texts:
        body += f'<p class="code">{e(texts["provider_said"])}</p>'
    if "hint" in texts:
        body += f"<p>{e(texts['hint'])}</p>"
    body += f'<p class="code">{e(texts["error_code"])}</p>'
    if "retry" in links:
        body += f'<a class="btn" href="{e(links["retry"])}">{e(texts["retry"])}</a>'
    return body


def _builtin(ctx: PageContext) -> web.Response:
    text = _document(ctx.title, _body(ctx), lang=ctx.html_lang, site_name=ctx.site_name)
    return _html_response(text, ctx.status)


def _failed(what: str, ctx: PageContext, exc: BaseException) -> None:
    """Log a failing hook or template by type and place only (its message may quote data)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else "?"
    logger.error(
        "%s failed for the %s page (%s at %s); the built-in page was served",
        what,
        ctx.kind,
        type(exc).__name__,
        where,
    )


async def _from_hook(request: web.Request, ctx: PageContext) -> web.Response | None:
    hook = settings_of(request).render
    if hook is None:
        return None
    try:
        result: object = hook(request, ctx)
        if inspect.isawaitable(result):
            result = await result
        if result is None:
            return None
        if isinstance(result, str):
            return web.Response(text=result, content_type="text/html")
        if isinstance(result, web.HTTPException) or not isinstance(result, web.Response):
            raise TypeError(f"render returned {type(result).__name__}")
        if result.prepared:
            raise TypeError("render returned a response that was already sent")
        return result
    except Exception as exc:  # the app's code: any failure means the built-in page
        _failed("the render hook", ctx, exc)
        return None


async def _from_template(request: web.Request, ctx: PageContext) -> web.Response | None:
    """``oauth/<kind>.html`` of the app's aiohttp-jinja2 environment, if it has one (the module
    is only looked at when the app imported it: aiohttp-jinja2 stays optional)."""
    jinja = sys.modules.get("aiohttp_jinja2")
    if jinja is None:
        return None
    env = request.config_dict.get(jinja.APP_KEY)
    if env is None:
        return None
    name = f"oauth/{ctx.kind}.html"
    try:
        env.get_template(name)  # cached by Jinja; a missing one means the built-in page
    except Exception:  # jinja2.TemplateNotFound, or a loader that fails
        return None
    try:
        context: Mapping[str, Any] = {"page": ctx}
        if env.is_async:
            text = await jinja.render_string_async(name, request, context)
        else:
            text = jinja.render_string(name, request, context)
    except Exception as exc:
        _failed(f"the template {name}", ctx, exc)
        return None
    return web.Response(text=text, content_type="text/html")


async def render_page(
    request: web.Request, ctx: PageContext, *, headers: Mapping[str, str] = SECURITY_HEADERS
) -> web.Response:
    """``ctx`` drawn by the app's hook, else its template, else the built-in page; then the
    plugin's ``headers`` (CSP, ``no-store``, framing) and ``ctx.status``, whoever drew it."""
    response = await _from_hook(request, ctx)
    if response is None:
        response = await _from_template(request, ctx)
    if response is None:
        response = _builtin(ctx)
    response.set_status(ctx.status)
    response.headers.update(headers)
    return response
