import numpy as np
import pytest

from mam_engine.lru import BytesLRU


def test_evicts_least_recently_used_by_bytes():
    lru = BytesLRU(300)
    for key in "abc":
        lru.put(key, np.zeros(100, np.uint8))
    assert lru.get("a") is not None  # a is now the most recent
    lru.put("d", np.zeros(100, np.uint8))
    assert "b" not in lru and all(k in lru for k in "acd")
    assert lru.stats() == {"entries": 3, "bytes": 300, "max_bytes": 300}


def test_replacing_a_key_counts_once_and_oversized_items_are_not_kept():
    lru = BytesLRU(150)
    lru.put("a", np.zeros(100, np.uint8))
    lru.put("a", np.zeros(120, np.uint8))
    assert lru.stats()["bytes"] == 120
    lru.put("big", np.zeros(151, np.uint8))
    assert "big" not in lru and "a" in lru
    lru.clear()
    assert lru.stats()["entries"] == 0


def test_negative_bound_is_refused():
    with pytest.raises(ValueError, match="cache size"):
        BytesLRU(-1)
