"""Shared fixtures: the whole CDK app synthesized once per session through `build_app`, as `app.py` does."""

import pytest

from stacks.application import STACK_NAMES
from tests.cdk_support import SynthesizedApp, cdk_json_context, synthesize


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    result = synthesize(cdk_json_context(), tmp_path_factory.mktemp("cdk.out"))
    assert sorted(result.templates) == sorted(STACK_NAMES)
    return result
