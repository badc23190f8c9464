"""The deployment test (`make integ`) offline: its app synthesizes to the committed snapshot, and it asserts what
the README promises. Nothing here deploys or calls AWS."""

import json
from typing import Any

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from stacks.application import STACK_NAMES
from tests.integ.integ_mysfits import INTEG_CONTEXT, build_integ_app
from tests.integ.run_integ import assertion_results, failures
from tests.test_snapshots import normalize_asset_hashes

pytestmark = pytest.mark.synth

HTTP_CALL = "Custom::DeployAssert@HttpCall"


def normalize(value: Any) -> Any:
    """Asset hashes, and the `salt` integ-tests-alpha sets to the synthesis time so each deploy re-runs a call."""
    if isinstance(value, dict):
        return {key: "<salt>" if key == "salt" else normalize(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalize(item) for item in value]
    return normalize_asset_hashes(value)


@pytest.fixture(scope="module")
def integ_templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    assembly = build_integ_app(outdir=str(tmp_path_factory.mktemp("integ.out"))).synth()
    return {stack.stack_name: stack.template for stack in assembly.stacks}


@pytest.fixture(scope="module")
def http_calls(integ_templates) -> list[dict[str, Any]]:
    return [
        resource["Properties"]
        for template in integ_templates.values()
        for resource in template["Resources"].values()
        if resource["Type"].startswith(HTTP_CALL)
    ]


def test_integ_app_matches_snapshot(integ_templates, snapshot):
    assert normalize(integ_templates) == snapshot.use_extension(JSONSnapshotExtension)


def test_integ_deploys_the_app_stacks_but_no_repository(integ_templates):
    """CodeCommit takes no new customers, so the test account may not be able to create a repository."""
    app_stacks = set(integ_templates) & set(STACK_NAMES)
    assert app_stacks == set(STACK_NAMES) - {"MysfitsRepository"}
    assert [name for name in integ_templates if name not in STACK_NAMES] == [
        name for name in integ_templates if name.startswith("MysfitsIntegDefaultTestDeployAssert")
    ]


def test_integ_uses_its_own_endpoint_name(integ_templates):
    """The test must not touch an endpoint a deployed app uses: the Lambda asks for the integ endpoint."""
    functions = [
        resource["Properties"]
        for resource in integ_templates["MysfitsRecommendations"]["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
    ]
    endpoints = {f["Environment"]["Variables"].get("ENDPOINT_NAME") for f in functions if "Environment" in f}
    assert INTEG_CONTEXT["mysfits:endpointName"] in endpoints
    assert "mysfits-recommender" not in json.dumps(integ_templates)


def test_integ_posts_to_the_api_and_expects_503_naming_the_endpoint(http_calls):
    posts = [call for call in http_calls if call["parameters"].get("fetchOptions", {}).get("method") == "POST"]
    assert len(posts) == 1
    post = posts[0]
    assert json.loads(post["parameters"]["fetchOptions"]["body"]) == {"entry": [1, 2, 3, 4, 5]}
    assert "/recommendations" in json.dumps(post["parameters"]["url"])
    expected = json.loads(post["expected"])["$ObjectLike"]
    assert expected["status"] == 503
    message = expected["body"]["message"]["$StringLike"]
    assert INTEG_CONTEXT["mysfits:endpointName"] in message


def test_integ_gets_the_website_and_expects_200(http_calls):
    gets = [call for call in http_calls if "method" not in call["parameters"].get("fetchOptions", {})]
    assert len(gets) == 1
    assert "DomainName" in json.dumps(gets[0]["parameters"]["url"])
    assert json.loads(gets[0]["expected"])["$ObjectLike"] == {"status": 200, "ok": True}


def test_run_integ_reads_assertion_outputs():
    outputs = {
        "MysfitsApi": {"ApiUrl": "https://example.invalid/prod/"},
        "MysfitsIntegDefaultTestDeployAssertE3E7D2A4": {
            "AssertionResultsHttpApiCallA": json.dumps({"status": "success"}),
            "AssertionResultsHttpApiCallB": json.dumps({"status": "fail", "message": "Expected 503, got 502"}),
        },
    }
    results = assertion_results(outputs)
    assert sorted(results) == [
        "MysfitsIntegDefaultTestDeployAssertE3E7D2A4.AssertionResultsHttpApiCallA",
        "MysfitsIntegDefaultTestDeployAssertE3E7D2A4.AssertionResultsHttpApiCallB",
    ]
    assert failures(results) == [
        "MysfitsIntegDefaultTestDeployAssertE3E7D2A4.AssertionResultsHttpApiCallB: Expected 503, got 502"
    ]
