"""AWS's rules that synthesis, cfn-lint and cdk-nag do not check, each behind a defect a first deploy would hit."""

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from mysfits.project_files import PROJECT_ROOT
from stacks.api_stack import ApiStack
from stacks.config import MysfitsConfig
from stacks.constructs.supported_regions import CLOUDFRONT_LOG_REGIONS, knn_regions
from stacks.recommendations_stack import RecommendationsStack
from tests.cdk_support import cdk_json_context


def only(resources: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    assert len(resources) == 1, sorted(resources)
    return next(iter(resources.items()))


def test_api_gateway_account_role_outlives_the_stack(synthesized):
    """`AWS::ApiGateway::Account` is account-wide: deleting its role breaks logging of every REST API there."""
    account_id, account = only(synthesized.resources("MysfitsApi", "AWS::ApiGateway::Account"))
    role_id = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    role = synthesized.templates["MysfitsApi"]["Resources"][role_id]
    for resource in (account, role):
        assert resource["DeletionPolicy"] == "Retain"
        assert resource["UpdateReplacePolicy"] == "Retain"
    _, stage = only(synthesized.resources("MysfitsApi", "AWS::ApiGateway::Stage"))
    assert account_id in stage["DependsOn"]  # logging settings need the role in place first


@pytest.mark.synth
def test_an_account_that_already_has_a_role_keeps_it():
    app = cdk.App(context={**cdk_json_context(), "mysfits:apiGatewayAccountRole": "existing"})
    config = MysfitsConfig.from_context(app.node.try_get_context)
    function = RecommendationsStack(app, "Recommendations", config=config).function
    template = Template.from_stack(ApiStack(app, "Api", config=config, function=function))
    template.resource_count_is("AWS::ApiGateway::Account", 0)
    template.resource_count_is("AWS::IAM::Role", 0)
    stage = template.find_resources("AWS::ApiGateway::Stage")
    assert "AccessLogSetting" in next(iter(stage.values()))["Properties"]  # still logged, through the account's role


def test_gateway_response_headers_have_one_prefix(synthesized):
    """CDK adds `gatewayresponse.header.` itself; a key that already has it is a different, wrong header."""
    for response in synthesized.resources("MysfitsApi", "AWS::ApiGateway::GatewayResponse").values():
        assert response["Properties"]["ResponseParameters"] == {"gatewayresponse.header.Cache-Control": "'no-store'"}


def test_notebook_instance_requires_imdsv2(synthesized):
    _, notebook = only(synthesized.resources("MysfitsNotebook", "AWS::SageMaker::NotebookInstance"))
    assert notebook["Properties"]["InstanceMetadataServiceConfiguration"] == {
        "MinimumInstanceMetadataServiceVersion": "2"
    }


def test_every_function_logs_to_a_log_group_of_its_stack_with_retention(synthesized):
    """Otherwise Lambda creates `/aws/lambda/<name>` itself, without retention, and `cdk destroy` leaves it."""
    functions = synthesized.all_resources("AWS::Lambda::Function")
    assert len(functions) >= 4  # the recommender, two auto-delete providers, the site deployment
    for (stack_name, logical_id), function in functions.items():
        log_group_ref = function["Properties"].get("LoggingConfig", {}).get("LogGroup")
        assert log_group_ref is not None, f"{stack_name}/{logical_id} has no log group of its own"
        log_group = synthesized.templates[stack_name]["Resources"][log_group_ref["Ref"]]
        assert log_group["Type"] == "AWS::Logs::LogGroup"
        assert log_group["Properties"]["RetentionInDays"] == synthesized.config.log_retention_days
        assert log_group["DeletionPolicy"] == "Delete"


def test_log_groups_that_services_name_themselves_are_created_first(synthesized):
    """API Gateway and SageMaker create these on first write without retention unless they exist already."""
    groups = {
        json.dumps(group["Properties"].get("LogGroupName")): group
        for group in synthesized.all_resources("AWS::Logs::LogGroup").values()
    }
    endpoint_group = groups[json.dumps(f"/aws/sagemaker/Endpoints/{synthesized.config.endpoint_name}")]
    assert endpoint_group["Properties"]["RetentionInDays"] == synthesized.config.log_retention_days
    execution_id, execution = next(
        (logical_id, group)
        for (stack_name, logical_id), group in synthesized.all_resources("AWS::Logs::LogGroup").items()
        if "API-Gateway-Execution-Logs_" in json.dumps(group["Properties"].get("LogGroupName"))
    )
    name = execution["Properties"]["LogGroupName"]["Fn::Join"][1]
    assert name[0] == "API-Gateway-Execution-Logs_"
    assert name[2] == "/prod"
    assert name[1] == {"Ref": next(iter(synthesized.resources("MysfitsApi", "AWS::ApiGateway::RestApi")))}
    _, stage = only(synthesized.resources("MysfitsApi", "AWS::ApiGateway::Stage"))
    assert execution_id in stage["DependsOn"]  # the stage goes first on delete: nothing logs into a deleted group


def test_cross_stack_references_are_strong(synthesized):
    """A consumer imports an export, so CloudFormation refuses to delete a producer that a consumer still uses
    (a weak reference would let `cdk destroy <producer> --exclusively` leave the API calling a deleted function)."""
    imports = 0
    for stack_name, template in synthesized.templates.items():
        text = json.dumps(template)
        assert "Fn::GetStackOutput" not in text, stack_name
        imports += text.count("Fn::ImportValue")
    api = json.dumps(synthesized.templates["MysfitsApi"])
    assert '"Fn::ImportValue": "MysfitsRecommendations:ExportsOutputFnGetAtt' in api
    assert imports >= 4


@pytest.mark.parametrize(
    ("stack_name", "regions"),
    [("MysfitsNotebook", knn_regions()), ("MysfitsWebsite", CLOUDFRONT_LOG_REGIONS)],
)
def test_unsupported_regions_fail_before_anything_is_created(synthesized, stack_name, regions):
    rules = synthesized.templates[stack_name]["Rules"]
    (rule,) = (rule for rule_id, rule in rules.items() if rule_id != "CheckBootstrapVersion")
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Contains": [sorted(regions), {"Ref": "AWS::Region"}]}
    assert "Deploy to one of" in assertion["AssertDescription"]


def test_readme_lists_the_regions_where_every_stack_deploys():
    both = sorted(set(knn_regions()) & set(CLOUDFRONT_LOG_REGIONS))
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert ", ".join(f"`{region}`" for region in both) in readme
