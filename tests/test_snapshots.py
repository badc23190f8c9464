"""One JSON snapshot per stack; only asset hashes are normalized, logical IDs are kept as they are."""

import re
from typing import Any

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from stacks.application import STACK_NAMES

ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")


def normalize_asset_hashes(value: Any) -> Any:
    """Asset hashes change with every edit of the assets' files (the repository asset is the whole project)."""
    if isinstance(value, dict):
        return {key: normalize_asset_hashes(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalize_asset_hashes(item) for item in value]
    if isinstance(value, str):
        return ASSET_HASH.sub("<asset-hash>", value)
    return value


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("stack_name", STACK_NAMES)
def test_stack_template_matches_snapshot(synthesized, snapshot_json, stack_name):
    assert normalize_asset_hashes(synthesized.templates[stack_name]) == snapshot_json


def test_normalization_touches_only_asset_hashes():
    template = {
        "Resources": {
            "RecommenderFunction7ADAEA5D": {"Properties": {"Code": {"S3Key": "a" * 64 + ".zip"}}},
            "Deploy": {"Properties": {"SourceObjectKeys": ["b" * 64 + ".zip"]}},
        }
    }
    normalized = normalize_asset_hashes(template)
    assert "RecommenderFunction7ADAEA5D" in normalized["Resources"]
    assert normalized["Resources"]["RecommenderFunction7ADAEA5D"]["Properties"]["Code"]["S3Key"] == "<asset-hash>.zip"
    assert normalized["Resources"]["Deploy"]["Properties"]["SourceObjectKeys"] == ["<asset-hash>.zip"]
