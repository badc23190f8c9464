"""Shared fixtures: the whole CDK app synthesized once per session through `build_app`, as `app.py` does."""

import pytest

from stacks.application import STACK_NAMES
from tests.cdk_support import SynthesizedApp, cdk_json_context, synthesize
from tests.cli_synth_support import BackgroundSynth, start_cli_synth

pytest_plugins = ["tests.local_support", "tests.handler_support"]  # trained-model and handler fixtures

_background: dict[str, BackgroundSynth | Exception] = {}
CLI_SYNTH_STARTED = "npx cdk synth: started in the background for the cli_synth tests"


def pytest_itemcollected(item: pytest.Item) -> None:
    """Whatever needs the session synthesis is a `synth` test, so `-m "not synth"` (`make unit`) leaves it out."""
    if "synthesized" in getattr(item, "fixturenames", ()):
        item.add_marker(pytest.mark.synth)


# trylast: after -k, -m and --deselect have removed what was not selected, so `-k other` starts no synthesis.
@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start `npx cdk synth` now and check it last: on two cores it runs beside the suite, not after it."""
    cli_items = [item for item in items if item.get_closest_marker("cli_synth")]
    if not cli_items:
        return
    items[:] = [item for item in items if item not in cli_items] + cli_items
    try:
        _background["synth"] = start_cli_synth()
    except RuntimeError as error:
        _background["synth"] = error


def pytest_report_collectionfinish(config: pytest.Config) -> list[str]:
    """Say when the background synthesis runs: a selection without cli_synth tests must not start one."""
    return [CLI_SYNTH_STARTED] if "synth" in _background else []


def pytest_sessionfinish(session: pytest.Session) -> None:
    synth = _background.pop("synth", None)
    if isinstance(synth, BackgroundSynth):
        synth.cleanup()


@pytest.fixture(scope="session")
def background_cli_synth() -> BackgroundSynth:
    synth = _background.get("synth")
    if isinstance(synth, Exception):
        pytest.fail(str(synth))
    assert synth is not None, "the CLI synthesis was not started at collection"
    return synth


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    result = synthesize(cdk_json_context(), tmp_path_factory.mktemp("cdk.out"))
    assert sorted(result.templates) == sorted(STACK_NAMES)
    return result
