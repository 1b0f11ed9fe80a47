"""Placeholders in a message: Django template syntax, no logic.

`{{ name }}`, `{{ first_name }}`, `{{ attributes.KEY }}` and `{{ coupon }}` (and, for a VIP
group's offer, `{{ group_name }}` and `{{ group_size }}`), each optionally with
`|default:"..."`, and nothing else: no tags, no other filters, no unbalanced braces.
Django's own Lexer splits the text; what it leaves as text must hold no template marks.
Rendering fills values in as they are (a messenger shows text, not HTML): a missing value
renders its default or nothing, so no `{{` ever leaves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

from django.template.base import Lexer, TokenType
from django.utils.translation import gettext as _

VARIABLES = ("name", "first_name", "coupon", "group_name", "group_size")
ATTRIBUTES = "attributes."
# `name`, `attributes.city`, ... then at most one `|default:"..."` (or '...').
_VAR = re.compile(
    r"""\s*(?P<var>[A-Za-z_][\w]*(?:\.[\w-]+)?)\s*
        (?:\|\s*(?P<filter>\w+)\s*(?::\s*(?P<arg>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'))?)?\s*""",
    re.VERBOSE,
)
_MARKS = ("{{", "}}", "{%", "%}", "{#", "#}")


class PlaceholderError(ValueError):
    """A placeholder we do not know, or template syntax we do not allow; the message names it."""


@dataclass(frozen=True)
class Placeholder:
    variable: str  # name, first_name, coupon, group_name, group_size, or attributes.KEY
    default: str = ""

    @property
    def attribute(self) -> str | None:
        return self.variable[len(ATTRIBUTES):] if self.variable.startswith(ATTRIBUTES) else None


Part = str | Placeholder


@dataclass(frozen=True)
class Values:
    """One person's values: their name, attributes and coupon code; for a VIP offer, their
    group's name and how many people it has (the text can say "only for 12 of you")."""

    name: str = ""
    attributes: Mapping[str, object] | None = None
    coupon: str = ""
    group_name: str = ""
    group_size: str = ""

    def get(self, placeholder: Placeholder) -> str:
        if placeholder.variable == "name":
            return self.name.strip()
        if placeholder.variable == "first_name":
            words = self.name.split()
            return words[0] if words else ""
        if placeholder.variable == "coupon":
            return self.coupon
        if placeholder.variable == "group_name":
            return self.group_name
        if placeholder.variable == "group_size":
            return self.group_size
        value = (self.attributes or {}).get(placeholder.attribute or "")
        if value is None or value is False or isinstance(value, (dict, list)):
            return ""
        return str(value)


def _unquote(arg: str) -> str:
    return re.sub(r"\\(.)", r"\1", arg[1:-1])


def _placeholder(contents: str) -> Placeholder:
    shown = "{{ %s }}" % contents.strip()
    match = _VAR.fullmatch(contents)
    if match is None:
        raise PlaceholderError(_("%(placeholder)s is not a placeholder we know: use {{ name }}, {{ first_name }}, "
                                 "{{ attributes.KEY }} or {{ coupon }}, optionally with |default:\"...\"")
                               % {"placeholder": shown})
    variable = match["var"]
    if variable not in VARIABLES and not (variable.startswith(ATTRIBUTES) and len(variable) > len(ATTRIBUTES)):
        raise PlaceholderError(_("unknown placeholder %(placeholder)s: use {{ name }}, {{ first_name }}, "
                                 "{{ attributes.KEY }} or {{ coupon }}") % {"placeholder": shown})
    if match["filter"] is None:
        return Placeholder(variable)
    if match["filter"] != "default" or match["arg"] is None:
        raise PlaceholderError(_("%(placeholder)s: the only filter allowed is |default:\"...\"")
                               % {"placeholder": shown})
    default = _unquote(match["arg"])
    if any(mark in default for mark in _MARKS):
        raise PlaceholderError(_("%(placeholder)s: a default cannot hold template syntax") % {"placeholder": shown})
    return Placeholder(variable, default)


@lru_cache(maxsize=256)
def parse(text: str) -> tuple[Part, ...]:
    """The text as literal parts and placeholders; PlaceholderError names what is not allowed."""
    parts: list[Part] = []
    for token in Lexer(text).tokenize():
        if token.token_type == TokenType.VAR:
            parts.append(_placeholder(token.contents))
        elif token.token_type == TokenType.BLOCK:
            raise PlaceholderError(_("template tags are not allowed: {%% %(tag)s %%}") % {"tag": token.contents})
        elif token.token_type == TokenType.COMMENT:
            raise PlaceholderError(_("template comments are not allowed: {# %(comment)s #}")
                                   % {"comment": token.contents})
        else:
            for mark in _MARKS:
                if mark in token.contents:
                    at = token.contents.index(mark)
                    raise PlaceholderError(_("unbalanced %(mark)s in “%(near)s”: write a placeholder on one line "
                                             "as {{ name }}") % {"mark": mark, "near": token.contents[at:at + 40]})
            parts.append(token.contents)
    return tuple(parts)


def check(text: str) -> None:
    """Raise PlaceholderError if `text` holds anything but our placeholders."""
    parse(text)


def placeholders(text: str) -> list[Placeholder]:
    return [p for p in parse(text) if isinstance(p, Placeholder)]


def has_placeholders(text: str) -> bool:
    return "{" in text and bool(placeholders(text))


def uses_coupon(texts: Iterable[str]) -> bool:
    return any(p.variable == "coupon" for text in texts if "{" in text for p in placeholders(text))


def render(text: str, values: Values, *, url: bool = False) -> str:
    """`text` for one person (values quoted for a URL when `url`)."""
    if "{" not in text and "}" not in text:
        return text
    out = []
    for part in parse(text):
        if isinstance(part, str):
            out.append(part)
        else:
            value = values.get(part) or part.default
            out.append(quote(value, safe="") if url else value)
    return "".join(out)


# --- a draft's texts ---------------------------------------------------------------------

def button_texts(buttons: Iterable[Mapping]) -> list[str]:
    return [str(b.get(key) or "") for b in buttons for key in ("text", "url", "copy_text")]


def template_texts(template: Mapping | None) -> list[str]:
    return [str(p) for p in (template or {}).get("parameters") or []]


def content_texts(body: str, buttons: Iterable[Mapping], template: Mapping | None) -> list[str]:
    return [body, *button_texts(buttons), *template_texts(template)]


def render_buttons(buttons: Iterable[Mapping], values: Values) -> list[dict]:
    out = []
    for button in buttons:
        rendered = dict(button)
        for key in ("text", "copy_text"):
            if key in rendered:
                rendered[key] = render(str(rendered[key]), values)
        if "url" in rendered:
            rendered["url"] = render(str(rendered["url"]), values, url=True)
        out.append(rendered)
    return out


def render_template(template: Mapping | None, values: Values) -> dict | None:
    if template is None:
        return None
    rendered = dict(template)
    if rendered.get("parameters"):
        rendered["parameters"] = [render(str(p), values) for p in rendered["parameters"]]
    return rendered
