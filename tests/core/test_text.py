"""The NUL rule: where a NUL character hides in nested data, named as a dotted path."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from core.text import MAX_WALK_DEPTH, nul_path


def test_clean_data_has_no_nul_path() -> None:
    assert nul_path({"a": ["b", {"c": "d"}], "n": 1, "raw": b"\x00"}) is None


def test_the_first_nul_is_named_by_its_path() -> None:
    assert nul_path({"a": "ok", "lines": [{"sku": "1"}, {"sku": "2\x00"}]}) == "lines.1.sku"
    assert nul_path("\x00") == "(root)"
    assert nul_path({"k\x00": 1}) == "k\\x00"


def test_a_structure_deeper_than_the_walk_is_refused_where_it_stops() -> None:
    deep: object = "fine"
    for _ in range(MAX_WALK_DEPTH + 1):
        deep = [deep]
    assert nul_path(deep) == ".".join(["0"] * MAX_WALK_DEPTH)


@given(st.recursive(st.text(), lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(), kids, max_size=3)))
def test_a_path_is_found_exactly_when_some_text_holds_a_nul(value: object) -> None:
    assert (nul_path(value) is not None) == any("\x00" in text for text in _texts(value))


def _texts(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in (k, *_texts(v))]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return []
