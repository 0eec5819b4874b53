"""The content-addressed cache (livertrials.io.cache): keys follow content, damaged entries are rebuilt."""

import numpy as np
import pandas as pd
import pytest

from livertrials.io.cache import CHECKSUM_BYTES, ContentCache, content_key, row_digests


def test_equal_content_gives_equal_keys_whatever_the_order_of_dict_keys():
    assert content_key({"a": 1, "b": [1.5, None]}) == content_key({"b": [1.5, None], "a": 1})


@pytest.mark.parametrize("left, right", [
    (0.1 + 0.2, 0.3),                # the last bit of a number counts
    (1, 1.0), (True, 1), (0.0, -0.0), (float("nan"), None), ("1", 1),
    ([1, 2], [2, 1]),
])
def test_different_content_gives_different_keys(left, right):
    assert content_key(left) != content_key(right)


def test_frames_are_keyed_by_columns_dtypes_and_values():
    frame = pd.DataFrame({"study": ["A", "B"], "yi": [0.5, 1.25], "ids": [["r1"], ["r2", "r3"]]})
    assert content_key(frame) == content_key(frame.copy())
    changed = frame.copy()
    changed.loc[1, "yi"] = 1.2500000000000002
    assert content_key(changed) != content_key(frame)
    assert content_key(frame[["yi", "study", "ids"]]) != content_key(frame)
    assert content_key(frame.astype({"yi": "float32"})) != content_key(frame)
    assert content_key(np.array([1.0, 2.0])) != content_key(np.array([1, 2]))


def test_an_unknown_type_is_refused_rather_than_keyed_by_identity():
    with pytest.raises(TypeError, match="no canonical form"):
        content_key(object())


def test_fetch_computes_once_then_reuses(tmp_path):
    calls = []
    cache = ContentCache(tmp_path, "pools", code="v1")
    key = cache.key({"rows": [1, 2]})
    assert cache.fetch(key, lambda: calls.append(1) or {"x": [1.0]}) == {"x": [1.0]}
    again = ContentCache(tmp_path, "pools", code="v1")
    assert again.fetch(key, lambda: calls.append(1) or "recomputed") == {"x": [1.0]}
    assert calls == [1] and again.hits == 1


def test_the_code_version_and_namespace_are_part_of_the_key(tmp_path):
    keys = {ContentCache(tmp_path, ns, code).key("same") for ns in ("a", "b") for code in ("v1", "v2")}
    assert len(keys) == 4


@pytest.mark.parametrize("damage", [
    lambda raw: raw[:-1],                                  # truncated
    lambda raw: raw[:CHECKSUM_BYTES] + b"x" + raw[CHECKSUM_BYTES + 1:],   # payload changed
    lambda raw: b"",                                       # emptied
])
def test_a_damaged_entry_is_deleted_and_recomputed_never_served(tmp_path, damage):
    cache = ContentCache(tmp_path, "forests", code="v1")
    key = cache.key("figure")
    cache.put(key, b"the real figure")
    path = next((tmp_path / "forests").glob("*/*"))
    path.write_bytes(damage(path.read_bytes()))
    fresh = ContentCache(tmp_path, "forests", code="v1")
    assert fresh.get(key) == (False, None)
    assert fresh.rejected == 1 and not path.exists()
    assert fresh.fetch(key, lambda: b"redrawn") == b"redrawn"


def test_a_payload_that_is_no_pickle_but_has_a_valid_checksum_is_rebuilt(tmp_path):
    import hashlib

    cache = ContentCache(tmp_path, "pools", code="v1")
    key = cache.key("x")
    path = tmp_path / "pools" / key[:2] / key
    path.parent.mkdir(parents=True)
    path.write_bytes(hashlib.sha256(b"not a pickle").digest() + b"not a pickle")
    assert cache.get(key) == (False, None) and not path.exists()


def test_prune_keeps_only_the_entries_of_this_run(tmp_path):
    first = ContentCache(tmp_path, "pools", code="v1")
    for name in ("a", "b", "c"):
        first.put(first.key(name), name)
    second = ContentCache(tmp_path, "pools", code="v1")
    assert second.fetch(second.key("a"), lambda: "new") == "a"
    second.fetch(second.key("d"), lambda: "d")
    assert second.prune() == 2
    assert sorted(p.name for p in (tmp_path / "pools").glob("*/*")) == sorted([second.key("a"), second.key("d")])


def test_without_a_root_everything_is_computed_and_nothing_written(tmp_path):
    cache = ContentCache(None, "pools", code="v1")
    assert cache.fetch(cache.key("x"), lambda: 1) == 1
    assert cache.fetch(cache.key("x"), lambda: 2) == 2
    assert cache.prune() == 0 and not any(tmp_path.iterdir())


def _digests(column: list) -> list[int]:
    return row_digests(pd.DataFrame({"cells": pd.Series(column, dtype=object), "n": range(len(column))})).tolist()


LIST_CELLS = [["a", "b"], ["b", "a"], ["ab"], [], [""], ["a"], ["a", "b", "c"]]


def test_row_digests_of_lists_see_order_length_and_element_boundaries():
    digests = _digests(LIST_CELLS)
    # every cell differs from the others: same row number, so only the list can tell them apart
    assert len({row_digests(pd.DataFrame({"cells": pd.Series([c], dtype=object)})).item() for c in LIST_CELLS}) == len(LIST_CELLS)
    assert digests == _digests(LIST_CELLS)   # and the digests are reproducible


def test_row_digests_are_the_same_for_a_list_and_the_array_parquet_gives_back(tmp_path):
    frame = pd.DataFrame({"ids": pd.Series(LIST_CELLS, dtype=object), "weights": [[0.1, 0.2]] * len(LIST_CELLS)})
    frame.to_parquet(tmp_path / "t.parquet")
    back = pd.read_parquet(tmp_path / "t.parquet")
    assert isinstance(back["ids"].iloc[0], np.ndarray)
    assert row_digests(back).tolist() == row_digests(frame).tolist()


def test_a_change_in_one_list_changes_only_its_row_digest():
    weights = [[0.1, 0.2], [0.3], [0.25, 0.5]]
    edited = [[0.1, 0.2], [np.nextafter(0.3, 1)], [0.25, 0.5]]   # one unit in the last place
    before, after = _digests(weights), _digests(edited)
    assert [b == a for b, a in zip(before, after)] == [True, False, True]


def test_texts_and_numbers_and_mixed_cells_do_not_collide():
    texts, numbers = _digests([["1.0"]]), _digests([[1.0]])
    assert texts != numbers
    mixed = [None, ["a"], 3, "a"]   # not all lists: every cell by its type and repr
    digests = _digests(mixed)
    assert len(set(digests)) == 4 and digests == _digests(mixed)
