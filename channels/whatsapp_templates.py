"""The message templates of a WhatsApp Business account, as the Graph API lists them, and the
variables a sender fills in (positional {{1}} or named {{first_name}}) in their components."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

FIELDS = "name,language,category,status,quality_score,components,id,parameter_format"
PAGE_SIZE = 100
MAX_PAGES = 200  # 20,000 templates: far above Meta's per-account limit; stops a paging loop
_VARIABLE = re.compile(r"{{\s*([A-Za-z0-9_]+)\s*}}")


class TemplateListError(Exception):
    """The account's templates could not be listed. `kind`: "auth" (token refused), "network"
    (no answer) or "platform" (any other Graph error)."""

    def __init__(self, reason: str, kind: str):
        self.reason = reason
        self.kind = kind
        super().__init__(reason)


@dataclass(frozen=True)
class RemoteTemplate:
    name: str
    language: str
    category: str
    status: str
    quality: str
    components: list[dict]
    remote_id: str


def _error(status: int, body: object) -> TemplateListError:
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code, message = error.get("code"), error.get("message") or ""
    reason = f"WhatsApp {code}: {message}" if code else f"WhatsApp HTTP {status}"
    if status == 401 or code == 190:
        return TemplateListError(reason, "auth")
    if status >= 500 or not code:
        return TemplateListError(f"no usable answer from WhatsApp (HTTP {status})", "network")
    return TemplateListError(reason, "platform")


def _remote(item: dict) -> RemoteTemplate:
    quality = item.get("quality_score")
    return RemoteTemplate(
        name=str(item.get("name") or ""), language=str(item.get("language") or ""),
        category=str(item.get("category") or "").upper(), status=str(item.get("status") or "").upper(),
        quality=str(quality.get("score") or "") if isinstance(quality, dict) else str(quality or ""),
        components=[c for c in item.get("components") or [] if isinstance(c, dict)],
        remote_id=str(item.get("id") or ""),
    )


def templates_list(*, token: str, api_url: str, account_id: str, timeout: float = 20.0,
                   transport: httpx.BaseTransport | None = None) -> list[RemoteTemplate]:
    """Every template of the account, following Graph's `paging.next` links."""
    url: str | None = f"{api_url.rstrip('/')}/{account_id}/message_templates"
    params: dict[str, str | int] | None = {"fields": FIELDS, "limit": PAGE_SIZE}
    found: list[RemoteTemplate] = []
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=timeout, transport=transport) as client:
        for _page in range(MAX_PAGES):
            if url is None:
                return found
            try:
                response = client.get(url, params=params)
            except httpx.HTTPError as exc:
                raise TemplateListError(f"WhatsApp not reached ({exc!r})", "network") from exc
            try:
                body = response.json()
            except ValueError:
                body = None
            if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise _error(response.status_code, body)
            found += [_remote(item) for item in body["data"] if isinstance(item, dict)]
            paging = body.get("paging") if isinstance(body.get("paging"), dict) else {}
            url, params = paging.get("next") or None, None  # `next` carries its own query
    raise TemplateListError(f"more than {MAX_PAGES} pages of templates", "platform")


# --- variables -------------------------------------------------------------------------


def _names_in(text: str) -> list[str]:
    """The variables of a text in order of first appearance, each once."""
    seen: list[str] = []
    for found in _VARIABLE.findall(text or ""):
        if found not in seen:
            seen.append(found)
    return seen


def _examples(component: dict, kind: str) -> dict[str, str]:
    """Example values by variable ("1" or "first_name") from a component's `example`."""
    example = component.get("example") if isinstance(component.get("example"), dict) else {}
    out: dict[str, str] = {}
    positional = example.get(f"{kind}_text")
    if isinstance(positional, list):
        row = positional[0] if positional and isinstance(positional[0], list) else positional
        out.update({str(i): str(v) for i, v in enumerate(row, start=1)})
    named = example.get(f"{kind}_text_named_params")
    if isinstance(named, list):
        out.update({str(p.get("param_name")): str(p.get("example", "")) for p in named if isinstance(p, dict)})
    return out


def _variable(component: str, key: str, example: str, **extra: object) -> dict:
    positional = key.isdigit()
    return {"component": component, "index" if positional else "name": int(key) if positional else key,
            "example": example, **extra}


def template_variables(components: list[dict]) -> list[dict]:
    """What a sender fills in, in the order a draft's `parameters` list them: the header
    text's, the body's, then each button's (URL suffix or copy code). E.g.
    `{"component": "body", "index": 1, "example": "-30%"}` or `{"component": "body", "name":
    "first_name", "example": "Anna"}`; buttons also carry `"button": <its position>`."""
    variables: list[dict] = []
    by_type = {str(c.get("type", "")).upper(): c for c in components}
    header = by_type.get("HEADER")
    if header and str(header.get("format", "TEXT")).upper() == "TEXT":
        examples = _examples(header, "header")
        variables += [_variable("header", k, examples.get(k, "")) for k in _ordered(_names_in(header.get("text", "")))]
    body = by_type.get("BODY")
    if body:
        examples = _examples(body, "body")
        variables += [_variable("body", k, examples.get(k, "")) for k in _ordered(_names_in(body.get("text", "")))]
    buttons = by_type.get("BUTTONS", {}).get("buttons") or []
    for position, button in enumerate(b for b in buttons if isinstance(b, dict)):
        kind = str(button.get("type", "")).upper()
        example = button.get("example")
        example = str(example[0] if isinstance(example, list) and example else example or "")
        if kind == "URL":
            variables += [_variable("button", k, example, button=position, sub_type="url")
                          for k in _ordered(_names_in(button.get("url", "")))]
        elif kind == "COPY_CODE":
            variables.append({"component": "button", "index": 1, "example": example, "button": position,
                              "sub_type": "copy_code"})
    return variables


def _ordered(keys: list[str]) -> list[str]:
    """Positional variables by number ({{2}} before {{1}} in the text is still second); named ones as written."""
    if keys and all(k.isdigit() for k in keys):
        return sorted(keys, key=int)
    return keys


def header_format(components: list[dict]) -> str:
    """The header's format (TEXT, IMAGE, VIDEO, DOCUMENT, LOCATION), "" without a header."""
    for component in components:
        if str(component.get("type", "")).upper() == "HEADER":
            return str(component.get("format", "TEXT")).upper()
    return ""
