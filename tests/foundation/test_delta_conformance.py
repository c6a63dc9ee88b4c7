"""The generic patch layer against the public RFC 6902 conformance suite (read as-is)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from evorec.delta import apply_patch, json_equal
from evorec.errors import InvalidDelta

SUITE = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "json-patch"
FILES = ("tests.json", "spec_tests.json")


def _records():
    if not SUITE.is_dir():
        if os.environ.get("CI"):
            raise RuntimeError(f"conformance suite missing in CI: {SUITE}")
        return []
    out = []
    for name in FILES:
        for i, rec in enumerate(json.loads((SUITE / name).read_text())):
            if rec.get("disabled") or "patch" not in rec:
                continue
            out.append(pytest.param(rec, id=f"{name}#{i}:{rec.get('comment', '')[:40]}"))
    return out


RECORDS = _records()


@pytest.mark.skipif(not RECORDS, reason=f"conformance suite not found at {SUITE}")
@pytest.mark.parametrize("record", RECORDS)
def test_conformance_record(record):
    doc_before = copy.deepcopy(record["doc"])
    patch_before = copy.deepcopy(record["patch"])
    if "error" in record:
        with pytest.raises(InvalidDelta):
            apply_patch(record["doc"], record["patch"])
    else:
        result = apply_patch(record["doc"], record["patch"])
        if "expected" in record:
            assert json_equal(result, record["expected"]), (result, record["expected"])
    # The inputs are never mutated, whatever happened.
    assert record["doc"] == doc_before
    assert record["patch"] == patch_before


def test_suite_is_present_and_large_enough():
    if not SUITE.is_dir():
        pytest.skip(f"conformance suite not found at {SUITE}")
    # 112 records, 4 disabled, a few comment-only: make sure we really ran most of them.
    assert len(RECORDS) >= 100
