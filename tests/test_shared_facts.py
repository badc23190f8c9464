"""Facts the AWS side and the local side share live once (mysfits/settings.py, api/openapi.json); what cannot import
them (the Lambda handler's own package, the website's JavaScript, the OpenAPI document) must agree with them here."""

import ast
import json
import re

import pytest

from mysfits import settings
from mysfits.project_files import HANDLER_PATH, PROJECT_ROOT, load_cdk_context, load_openapi
from mysfits.standins import apigw, server
from stacks.api_contract import REQUEST_SCHEMA_NAME
from tests.cdk_support import only
from tests.handler_support import api_event, load_handler

WEB_APP = PROJECT_ROOT / "web" / "app.js"


def test_the_api_path_is_the_openapi_documents_one_path():
    assert list(load_openapi()["paths"]) == [settings.api_path()]
    assert settings.api_path() == server.API_PATH


def test_the_website_calls_the_api_path():
    """web/app.js cannot import the setting: its `API_PATH` (relative, so the page works under any prefix)."""
    (path,) = re.findall(r'const API_PATH = "([^"]*)";', WEB_APP.read_text(encoding="utf-8"))
    assert f"/{path}" == settings.api_path()


def test_the_request_schema_is_the_answer_domain():
    entry = load_openapi()["components"]["schemas"][REQUEST_SCHEMA_NAME]["properties"]["entry"]
    assert entry["minItems"] == entry["maxItems"] == settings.FEATURE_DIM
    assert (entry["items"]["minimum"], entry["items"]["maximum"]) == (1, settings.N_ANSWERS)
    assert settings.N_CELLS == settings.N_ANSWERS**settings.FEATURE_DIM


def _handler_refuses(entry: list) -> bool:
    handler = load_handler()
    try:
        handler._answers(api_event(json.dumps({"entry": entry})))
    except handler.BadRequest:
        return True
    return False


def test_the_handler_accepts_exactly_the_answer_domain():
    """The handler's package cannot import settings: it must accept the domain's edges and nothing past them."""
    lowest, highest = [1] * settings.FEATURE_DIM, [settings.N_ANSWERS] * settings.FEATURE_DIM
    assert not _handler_refuses(lowest)
    assert not _handler_refuses(highest)
    assert _handler_refuses([0, *lowest[1:]])
    assert _handler_refuses([settings.N_ANSWERS + 1, *highest[1:]])
    assert _handler_refuses(lowest[1:])
    assert _handler_refuses([*lowest, 1])
    assert f"{settings.FEATURE_DIM} integers from 1 to {settings.N_ANSWERS}" in load_handler().RULE


def _handler_environment_defaults() -> dict[str, str]:
    """`os.environ.get(NAME, "default")` calls in handler.py, by name."""
    defaults = {}
    for node in ast.walk(ast.parse(HANDLER_PATH.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) == "os.environ.get"
            and len(node.args) == 2
            and all(isinstance(arg, ast.Constant) for arg in node.args)
        ):
            name, default = (arg.value for arg in node.args)
            defaults[name] = default
    return defaults


def test_the_handlers_default_budget_is_the_instance_hosting_budget():
    """Without the stack's environment the handler falls back to the instance budget the local product uses."""
    budget = settings.invoke_budget(settings.Hosting()).environment()
    defaults = _handler_environment_defaults()
    assert {name: defaults.get(name) for name in budget} == budget


def test_the_local_api_uses_the_stage_name():
    event = apigw.build_proxy_event(
        method="POST",
        raw_path=settings.api_path(),
        headers=[],
        body=b"{}",
        source_ip="127.0.0.1",
        resource=settings.api_path(),
        host="127.0.0.1",
        port=8080,
        request_id="r",
        region="us-east-1",
    )
    assert event["requestContext"]["stage"] == settings.API_STAGE_NAME
    assert event["requestContext"]["path"] == f"/{settings.API_STAGE_NAME}{settings.api_path()}"


def test_the_stacks_use_the_shared_path_stage_and_policy(synthesized):
    """The CloudFront behaviour, the REST API's resource and stage, and the CSP that the local server sends."""
    config = only(synthesized.resources("MysfitsWebsite", "AWS::CloudFront::Distribution"))["Properties"][
        "DistributionConfig"
    ]
    assert [behavior["PathPattern"] for behavior in config["CacheBehaviors"]] == [settings.api_path()]
    (policy,) = synthesized.resources("MysfitsWebsite", "AWS::CloudFront::ResponseHeadersPolicy").values()
    headers = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert headers["ContentSecurityPolicy"]["ContentSecurityPolicy"] == settings.CONTENT_SECURITY_POLICY
    assert server.SECURITY_HEADERS["Content-Security-Policy"] == settings.CONTENT_SECURITY_POLICY
    resource = only(synthesized.resources("MysfitsApi", "AWS::ApiGateway::Resource"))
    assert f"/{resource['Properties']['PathPart']}" == settings.api_path()
    stage = only(synthesized.resources("MysfitsApi", "AWS::ApiGateway::Stage"))
    assert stage["Properties"]["StageName"] == settings.API_STAGE_NAME


@pytest.mark.parametrize("name", ["DEFAULT_ENDPOINT_NAME", "DEFAULT_NAME_PREFIX"])
def test_the_default_sagemaker_names_are_cdk_jsons(name):
    """cdk.json spells the defaults out for users to change; out of the box both sides use the same names."""
    context_key = {"DEFAULT_ENDPOINT_NAME": "endpointName", "DEFAULT_NAME_PREFIX": "sagemakerNamePrefix"}[name]
    assert load_cdk_context()[f"{settings.CONTEXT_PREFIX}{context_key}"] == getattr(settings, name)
