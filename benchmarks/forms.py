"""HTML forms read as a browser submits them: the simulated users of the load test fill and post the
app's real forms (`forms_of`, `form_by_id`, `form_by_action`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Form:
    attrs: dict
    fields: list[list[str]] = field(default_factory=list)  # [name, value] in page order
    disabled: bool = False  # holds a disabled fieldset
    checkboxes: dict[str, str] = field(default_factory=dict)  # every enabled checkbox: name -> value

    def tick(self, name: str) -> None:
        self.set(name, self.checkboxes[name])

    def get(self, name: str) -> str | None:
        return next((v for n, v in self.fields if n == name), None)

    def names(self) -> list[str]:
        return [n for n, _ in self.fields]

    def set(self, name: str, value: str) -> None:
        for pair in self.fields:
            if pair[0] == name:
                pair[1] = value
                return
        self.fields.append([name, value])

    def data(self, **extra: str) -> list[tuple[str, str]]:
        pairs = [(n, v) for n, v in self.fields if n not in extra]
        return pairs + list(extra.items())


class _FormParser(HTMLParser):
    """Every <form> of a page with the values a browser would submit: inputs (checked boxes only), the
    selected (or first) option of each select, textareas; nothing inside a disabled fieldset."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._fieldsets: list[bool] = []
        self._select: dict | None = None
        self._option: dict | None = None
        self._textarea: list | None = None

    def _off(self) -> bool:
        return any(self._fieldsets)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = Form(a)
            self.forms.append(self._form)
            self._fieldsets = []
            return
        if self._form is None:
            return
        if tag == "fieldset":
            off = "disabled" in a
            self._fieldsets.append(off)
            self._form.disabled |= off
        elif tag == "input":
            kind = (a.get("type") or "text").lower()
            if not a.get("name") or "disabled" in a or self._off() or kind in ("submit", "button", "image", "reset"):
                return
            if kind == "checkbox":
                self._form.checkboxes[a["name"]] = a.get("value") or "on"
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._form.fields.append([a["name"], a.get("value") or "on"])
            else:
                self._form.fields.append([a["name"], a.get("value") or ""])
        elif tag == "select":
            if a.get("name") and "disabled" not in a and not self._off():
                self._select = {"name": a["name"], "first": None, "chosen": None}
        elif tag == "option" and self._select is not None:
            self._option = {"value": a.get("value"), "text": "", "selected": "selected" in a}
        elif tag == "textarea":
            if a.get("name") and "disabled" not in a and not self._off():
                self._textarea = [a["name"], ""]

    def _close_option(self):
        if self._option is None or self._select is None:
            return
        value = self._option["value"] if self._option["value"] is not None else self._option["text"].strip()
        if self._select["first"] is None:
            self._select["first"] = value
        if self._option["selected"]:
            self._select["chosen"] = value
        self._option = None

    def handle_data(self, data):
        if self._option is not None:
            self._option["text"] += data
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "option":
            self._close_option()
        elif tag == "select" and self._select is not None:
            self._close_option()
            value = self._select["chosen"] if self._select["chosen"] is not None else self._select["first"]
            if value is not None and self._form is not None:
                self._form.fields.append([self._select["name"], value])
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            name, value = self._textarea
            if value.startswith("\n"):  # the newline right after <textarea> is not part of the value
                value = value[1:]
            if self._form is not None:
                self._form.fields.append([name, value])
            self._textarea = None
        elif tag == "fieldset" and self._fieldsets:
            self._fieldsets.pop()
        elif tag == "form":
            self._form = None


def forms_of(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    return parser.forms


def form_by_id(html: str, form_id: str) -> Form | None:
    return next((f for f in forms_of(html) if f.attrs.get("id") == form_id), None)


def form_by_action(html: str, suffix: str) -> Form | None:
    return next((f for f in forms_of(html) if (f.attrs.get("action") or "").endswith(suffix)), None)

