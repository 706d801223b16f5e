import pytest

from devhost.routing import RouteTemplate

GUID = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.mark.parametrize("template, path, expected", [
    ("signups", "signups", {}),
    ("signups", "SIGNUPS/", {}),
    ("signups", "signups/1", None),
    ("signups/{id}", "signups/42", {"id": "42"}),
    ("signups/{id}", "signups", None),
    ("signups/{id}/history", "signups/a-b/history", {"id": "a-b"}),
    ("items/{id:guid}", f"items/{GUID}", {"id": GUID}),
    ("items/{id:guid}", "items/42", None),
    ("items/{id:int}", "items/-7", {"id": "-7"}),
    ("items/{id:int:min(1)}", "items/0", None),
    ("items/{id:int:range(1,9)}", "items/9", {"id": "9"}),
    ("items/{code:length(3)}", "items/abcd", None),
    ("items/{code:regex(^[a-z]{{2}}\\d$)}", "items/ab1", {"code": "ab1"}),
    ("items/{code:regex(^[a-z]{{2}}\\d$)}", "items/abc", None),
    ("items/{id?}", "items", {}),
    ("items/{id?}", "items/5", {"id": "5"}),
    ("items/{page=1}", "items", {"page": "1"}),
    ("items/{page=1}", "items/3", {"page": "3"}),
    ("files/{*rest}", "files/a/b/c.txt", {"rest": "a/b/c.txt"}),
    ("files/{*rest}", "files", {}),
    ("files/{name}.{ext}", "files/report.final.pdf", {"name": "report.final", "ext": "pdf"}),
    ("", "", {}),
    ("{*path}", "anything/at/all", {"path": "anything/at/all"}),
])
def test_matching(template, path, expected):
    assert RouteTemplate(template).match(path) == expected


def test_more_specific_templates_sort_first():
    templates = ["signups/{*rest}", "signups/{id?}", "signups/{id}", "signups/{id:int}", "signups/new", "signups"]
    ordered = sorted((RouteTemplate(t) for t in reversed(templates)), key=RouteTemplate.sort_key)
    assert [t.template for t in ordered] == ["signups", "signups/new", "signups/{id:int}", "signups/{id}",
                                             "signups/{id?}", "signups/{*rest}"]


@pytest.mark.parametrize("template, message", [
    ("a/{*rest}/b", "catch-all parameter must be the last segment"),
    ("a/{id}/{id}", "appears twice"),
    ("a/{id", "unclosed"),
    ("a//b", "empty segment"),
    ("a/{id:bogus}", "unknown constraint"),
    ("a/{x}{y}", "two parameters need a literal"),
])
def test_bad_templates(template, message):
    with pytest.raises(ValueError, match=message):
        RouteTemplate(template)
