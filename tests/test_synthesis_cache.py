"""Pools and small-study tests from the cache: reused where their rows are unchanged, refitted where not, and
the tables equal to a run without the cache, bit for bit."""

import pandas as pd
from test_synthesis import MONTH, WINDOWS_ONLY, toy

from livertrials.io.cache import ContentCache
from livertrials.synthesis.pooling import pool_comparisons
from livertrials.synthesis.settings import Settings
from livertrials.synthesis.small_study import small_study_table

TWELVE = [(f"S{i:02d}", 30.0 + i % 5, 5.0, 20 + i, 29.0, 6.0, 22) for i in range(12)]


def two_windows(studies):
    """Each study at month 3 and month 6: two pools per measure."""
    month3 = toy(studies=studies)[0]
    month6 = toy(studies=studies, tp="month 6", days=6 * MONTH)[0]
    return pd.concat([month3, month6], ignore_index=True)


def test_pools_from_the_cache_equal_pools_computed_afresh(tmp_path):
    comparisons = two_windows(TWELVE)
    first = pool_comparisons(comparisons, WINDOWS_ONLY, ContentCache(tmp_path, "pools", "v1"))
    cache = ContentCache(tmp_path, "pools", "v1")
    again = pool_comparisons(comparisons, WINDOWS_ONLY, cache)
    pd.testing.assert_frame_equal(again, first)
    assert cache.misses == 0 and cache.hits > 0


def test_an_edited_study_refits_its_pools_only_and_matches_a_run_without_cache(tmp_path):
    before = pool_comparisons(two_windows(TWELVE), WINDOWS_ONLY, ContentCache(tmp_path, "pools", "v1"))
    edited = list(TWELVE)
    edited[3] = ("S03", 33.5, 5.0, 23, 29.0, 6.0, 22)
    month3 = toy(studies=edited)[0]    # only month 3 changes
    month6 = toy(studies=TWELVE, tp="month 6", days=6 * MONTH)[0]
    comparisons = pd.concat([month3, month6], ignore_index=True)
    cache = ContentCache(tmp_path, "pools", "v1")
    cached = pool_comparisons(comparisons, WINDOWS_ONLY, cache)
    fresh = pool_comparisons(comparisons, WINDOWS_ONLY)
    pd.testing.assert_frame_equal(cached, fresh)
    # the month-6 pools were reused, the month-3 ones refitted (their estimates moved)
    assert cache.hits >= 1 and cache.misses >= 1
    month3_window = month3.loc[month3["used"], "window"].iloc[0]
    moved = cached["estimate"].to_numpy() != before["estimate"].to_numpy()
    assert set(cached.loc[moved, "window"]) == {month3_window}


def test_other_settings_or_code_never_reuse_an_entry(tmp_path):
    comparisons = two_windows(TWELVE)
    pool_comparisons(comparisons, WINDOWS_ONLY, ContentCache(tmp_path, "pools", "v1"))
    level = Settings.from_config({"longest_follow_up": False, "level": 0.9})
    other_settings = ContentCache(tmp_path, "pools", "v1")
    pooled = pool_comparisons(comparisons, level, other_settings)
    assert other_settings.hits == 0 and (pooled["level"] == 0.9).all()
    other_code = ContentCache(tmp_path, "pools", "v2")
    pool_comparisons(comparisons, WINDOWS_ONLY, other_code)
    assert other_code.hits == 0


def test_small_study_tests_from_the_cache_equal_fresh_ones(tmp_path):
    comparisons = two_windows(TWELVE)
    settings = Settings.from_config({"longest_follow_up": False, "small_study_min_k": 10})
    pooled = pool_comparisons(comparisons, settings)
    fresh = small_study_table(comparisons, pooled, settings)
    assert len(fresh) >= 2
    small_study_table(comparisons, pooled, settings, ContentCache(tmp_path, "small_study_tests", "v1"))
    cache = ContentCache(tmp_path, "small_study_tests", "v1")
    pd.testing.assert_frame_equal(small_study_table(comparisons, pooled, settings, cache), fresh)
    assert cache.hits == len(fresh) and cache.misses == 0
