"""Fine-grained assertions on what matters for security and for the product's wiring."""

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_logs as logs

from mysfits.settings import Hosting, invoke_budget
from stacks.api_contract import REQUEST_SCHEMA_NAME, component_schema
from stacks.constructs import recommendation_function
from stacks.constructs.recommendation_function import METRICS_NAMESPACE
from tests.cdk_support import only
from tests.handler_support import load_handler

# Resources allowed to keep DeletionPolicy Retain, each with the reason; everything else must go with the stack.
RETAIN_ALLOWED: dict[str, str] = {
    "MysfitsApi/RecommendationsRestApiAccount43C38370": "AWS::ApiGateway::Account is one per account and region; "
    "deleting it would take CloudWatch logging from every REST API there",
    "MysfitsApi/RecommendationsRestApiCloudWatchRole85E73A1D": "the account setting above keeps pointing at this "
    "role after `cdk destroy`; deleting it would break logging of every REST API in the region",
}


def policy_statements(synthesized) -> list[tuple[str, str, dict[str, Any]]]:
    """Every IAM statement in every template: inline role policies and AWS::IAM::Policy documents."""
    found = []
    for (stack_name, logical_id), policy in synthesized.all_resources("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            found.append((stack_name, logical_id, statement))
    for (stack_name, logical_id), role in synthesized.all_resources("AWS::IAM::Role").items():
        for inline in role["Properties"].get("Policies", []):
            for statement in inline["PolicyDocument"]["Statement"]:
                found.append((stack_name, logical_id, statement))
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_every_bucket_is_private_encrypted_and_tls_only(synthesized):
    buckets = synthesized.all_resources("AWS::S3::Bucket")
    assert len(buckets) == 4
    policies = synthesized.all_resources("AWS::S3::BucketPolicy")
    for (stack_name, logical_id), bucket in buckets.items():
        properties = bucket["Properties"]
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, logical_id
        assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"], logical_id
        bucket_policy = next(
            policy
            for (policy_stack, _), policy in policies.items()
            if policy_stack == stack_name and policy["Properties"]["Bucket"] == {"Ref": logical_id}
        )
        denies_plain_http = [
            statement
            for statement in bucket_policy["Properties"]["PolicyDocument"]["Statement"]
            if statement["Effect"] == "Deny"
            and statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        ]
        assert denies_plain_http, f"{logical_id} does not refuse plain HTTP"
        assert bucket["DeletionPolicy"] == "Delete", logical_id


def test_data_buckets_write_access_logs(synthesized):
    buckets = synthesized.all_resources("AWS::S3::Bucket")
    logged = [key for key, bucket in buckets.items() if "LoggingConfiguration" in bucket["Properties"]]
    assert {stack for stack, _ in logged} == {"MysfitsWebsite", "MysfitsNotebook"}
    assert len(logged) == 2


def test_no_iam_statement_grants_a_wildcard_action(synthesized):
    statements = policy_statements(synthesized)
    assert statements
    for stack_name, logical_id, statement in statements:
        for action in as_list(statement.get("Action", [])):
            assert action != "*", (stack_name, logical_id)
            assert not action.endswith(":*"), (stack_name, logical_id, action)
        assert "NotAction" not in statement, (stack_name, logical_id)


def test_recommendation_role_invokes_exactly_one_endpoint_and_nothing_else(synthesized):
    stack = "MysfitsRecommendations"
    role = only(synthesized.resources(stack, "AWS::IAM::Role"))
    assert "ManagedPolicyArns" not in role["Properties"]
    statements = [statement for name, _, statement in policy_statements(synthesized) if name == stack]
    invoke = [s for s in statements if "sagemaker:InvokeEndpoint" in as_list(s["Action"])]
    assert len(invoke) == 1
    assert as_list(invoke[0]["Action"]) == ["sagemaker:InvokeEndpoint"]
    resource = invoke[0]["Resource"]
    assert not isinstance(resource, list)
    literal = "".join(part for part in resource["Fn::Join"][1] if isinstance(part, str))
    assert literal.endswith(":endpoint/mysfits-recommender"), literal
    assert literal == literal.lower(), "SageMaker endpoint ARNs are lower-case"
    allowed = {"sagemaker:InvokeEndpoint", "logs:CreateLogStream", "logs:PutLogEvents"}
    xray = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    actions = {action for s in statements for action in as_list(s["Action"])}
    assert actions == allowed | xray


def test_recommendation_function_runtime_logging_and_timeout(synthesized):
    function = only(synthesized.resources("MysfitsRecommendations", "AWS::Lambda::Function"))["Properties"]
    assert function["Runtime"] == "python3.14"
    assert function["Architectures"] == ["arm64"]
    assert function["LoggingConfig"]["LogFormat"] == "JSON"
    assert function["TracingConfig"] == {"Mode": "Active"}
    budget = synthesized.config.invoke_budget
    assert function["Environment"]["Variables"] == {
        "ENDPOINT_NAME": synthesized.config.endpoint_name,
        "METRICS_NAMESPACE": METRICS_NAMESPACE,
        **budget.environment(),
    }
    assert function["Timeout"] == budget.function_timeout_seconds < 29
    log_group = only(synthesized.resources("MysfitsRecommendations", "AWS::Logs::LogGroup"))
    assert log_group["Properties"]["RetentionInDays"] == synthesized.config.log_retention_days
    assert log_group["DeletionPolicy"] == "Delete"


def test_handler_defaults_are_the_instance_budget():
    """Run locally (no environment from the stack), the handler keeps the instance endpoint's budget."""
    handler = load_handler()
    budget = invoke_budget(Hosting())
    assert (
        budget.connect_timeout_seconds,
        budget.read_timeout_seconds,
        budget.max_attempts,
    ) == (handler.CONNECT_TIMEOUT_SECONDS, handler.READ_TIMEOUT_SECONDS, handler.MAX_ATTEMPTS)


def test_lambda_asset_is_the_handler_and_the_catalog_only(synthesized):
    function = only(synthesized.resources("MysfitsRecommendations", "AWS::Lambda::Function"))
    asset_hash = function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    (asset_dir,) = [d for d in synthesized.asset_dirs("MysfitsRecommendations") if d.name == f"asset.{asset_hash}"]
    assert sorted(path.name for path in asset_dir.iterdir()) == ["handler.py", "mysfits.json"]


@pytest.mark.synth
def test_lambda_asset_leaves_out_what_python_and_tools_write_beside_the_handler(tmp_path, monkeypatch):
    """Planted in a copy of the handler folder: whether this machine wrote bytecode or not, none may ship."""
    source = tmp_path / "recommendations"
    shutil.copytree(recommendation_function.HANDLER_DIR, source, ignore=shutil.ignore_patterns("__pycache__"))
    planted = ["__pycache__/handler.cpython-314.pyc", "handler.pyc", ".pytest_cache/README.md", ".DS_Store"]
    for relative in planted:
        (source / relative).parent.mkdir(exist_ok=True)
        (source / relative).write_bytes(b"left behind")
    monkeypatch.setattr(recommendation_function, "HANDLER_DIR", source)
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    recommendation_function.RecommendationFunction(
        cdk.Stack(app, "HandlerAsset"),
        "Recommendations",
        endpoint_name="mysfits-recommender",
        invoke_budget=invoke_budget(Hosting()),
        log_retention=logs.RetentionDays.ONE_WEEK,
    )
    (asset_dir,) = [path for path in Path(app.synth().directory).iterdir() if path.name.startswith("asset.")]
    assert sorted(path.name for path in asset_dir.iterdir()) == ["handler.py", "mysfits.json"]


def test_api_validates_requests_against_the_openapi_schema(synthesized):
    stack = "MysfitsApi"
    validator = only(synthesized.resources(stack, "AWS::ApiGateway::RequestValidator"))["Properties"]
    assert validator["ValidateRequestBody"] is True
    assert validator["ValidateRequestParameters"] is True
    model = only(synthesized.resources(stack, "AWS::ApiGateway::Model"))["Properties"]
    expected = {"$schema": "http://json-schema.org/draft-04/schema#", **component_schema(REQUEST_SCHEMA_NAME)}
    assert model["Schema"] == expected
    assert model["ContentType"] == "application/json"
    method = only(synthesized.resources(stack, "AWS::ApiGateway::Method"))["Properties"]
    assert method["HttpMethod"] == "POST"
    assert method["Integration"]["Type"] == "AWS_PROXY"
    assert "RequestValidatorId" in method
    assert list(method["RequestModels"]) == ["application/json"]
    resource = only(synthesized.resources(stack, "AWS::ApiGateway::Resource"))["Properties"]
    assert resource["PathPart"] == "recommendations"
    permission = only(synthesized.resources(stack, "AWS::Lambda::Permission"))["Properties"]
    source_arn = json.dumps(permission["SourceArn"])
    assert "DeploymentStageprod" in source_arn  # the prod stage only, no console test-invoke
    assert source_arn.endswith('"/POST/recommendations"]]}')


def test_api_stage_is_throttled_logged_and_traced(synthesized):
    stage = only(synthesized.resources("MysfitsApi", "AWS::ApiGateway::Stage"))["Properties"]
    assert stage["StageName"] == "prod"
    assert stage["TracingEnabled"] is True
    settings = only({str(i): s for i, s in enumerate(stage["MethodSettings"])})
    assert settings["ThrottlingRateLimit"] == synthesized.config.api_throttle_rate_limit
    assert settings["ThrottlingBurstLimit"] == synthesized.config.api_throttle_burst_limit
    assert settings["LoggingLevel"] in ("ERROR", "INFO")
    assert settings["DataTraceEnabled"] is False
    access_log_format = json.loads(stage["AccessLogSetting"]["Format"])
    assert {"requestId", "status", "ip"} <= set(access_log_format)


def test_gateway_errors_are_json_messages(synthesized):
    responses = synthesized.resources("MysfitsApi", "AWS::ApiGateway::GatewayResponse")
    by_type = {r["Properties"]["ResponseType"]: r["Properties"] for r in responses.values()}
    assert set(by_type) == {"DEFAULT_4XX", "DEFAULT_5XX", "BAD_REQUEST_BODY"}
    for response_type in ("DEFAULT_4XX", "DEFAULT_5XX"):
        template = by_type[response_type]["ResponseTemplates"]["application/json"]
        assert template == '{"message": $context.error.messageString}'
    bad_body = json.loads(by_type["BAD_REQUEST_BODY"]["ResponseTemplates"]["application/json"])
    assert "entry" in bad_body["message"]


def test_notebook_is_encrypted_al2023_without_root_and_autostops(synthesized):
    stack = "MysfitsNotebook"
    key = only(synthesized.resources(stack, "AWS::KMS::Key"))
    assert key["Properties"]["EnableKeyRotation"] is True
    notebook = only(synthesized.resources(stack, "AWS::SageMaker::NotebookInstance"))["Properties"]
    assert notebook["PlatformIdentifier"] == "notebook-al2023-v1"
    assert notebook["InstanceType"] == synthesized.config.notebook_instance_type
    assert notebook["RootAccess"] == "Disabled"
    assert notebook["KmsKeyId"] == {"Ref": next(iter(synthesized.resources(stack, "AWS::KMS::Key")))}
    assert "LifecycleConfigName" in notebook
    assert "DefaultCodeRepository" in notebook
    lifecycle = only(synthesized.resources(stack, "AWS::SageMaker::NotebookInstanceLifecycleConfig"))
    content = lifecycle["Properties"]["OnStart"][0]["Content"]["Fn::Base64"]
    script = "".join(part for part in content["Fn::Join"][1] if isinstance(part, str))
    assert f"--idle-minutes {synthesized.config.notebook_idle_minutes}" in script
    assert "systemctl enable --now mysfits-autostop.timer" in script
    for download in ("curl", "wget", "pip install", "git clone"):
        assert download not in script
    rendered_length = len(base64.b64encode(script.encode())) + 512  # tokens resolve to short names and ARNs
    assert rendered_length < 16384


def test_notebook_role_is_scoped_to_the_prefix_and_passes_only_itself(synthesized):
    stack = "MysfitsNotebook"
    statements = [s for name, _, s in policy_statements(synthesized) if name == stack]
    by_sid = {s.get("Sid"): s for s in statements}
    for sid in ("TrainingJobs", "Models", "EndpointConfigs", "Endpoints"):
        resource = json.dumps(by_sid[sid]["Resource"])
        assert resource.endswith('/mysfits-*"]]}'), (sid, resource)
    pass_role = by_sid["PassOwnRoleToSageMaker"]
    roles = synthesized.resources(stack, "AWS::IAM::Role")
    notebook_role_id = next(
        logical_id
        for logical_id, role in roles.items()
        if role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"].get("Service")
        == "sagemaker.amazonaws.com"
    )
    assert pass_role["Resource"] == {"Fn::GetAtt": [notebook_role_id, "Arn"]}
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert "ManagedPolicyArns" not in roles[notebook_role_id]["Properties"]
    git_pull = [s for s in statements if "codecommit:GitPull" in as_list(s["Action"])]
    assert len(git_pull) == 1
    assert "MysfitsRepository" in json.dumps(git_pull[0]["Resource"])  # passed as a CDK object, read from its stack
    s3_objects = by_sid["ReadWriteArtifacts"]
    assert "Artifacts" in json.dumps(s3_objects["Resource"])


def test_website_serves_the_api_on_its_own_origin(synthesized):
    distribution = only(synthesized.resources("MysfitsWebsite", "AWS::CloudFront::Distribution"))
    config = distribution["Properties"]["DistributionConfig"]
    assert config["DefaultRootObject"] == "index.html"
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    assert "ResponseHeadersPolicyId" in config["DefaultCacheBehavior"]
    assert "Logging" in config
    (api_behavior,) = config["CacheBehaviors"]
    assert api_behavior["PathPattern"] == "/recommendations"
    assert api_behavior["ViewerProtocolPolicy"] == "https-only"
    assert "POST" in api_behavior["AllowedMethods"]
    assert api_behavior["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # CachingDisabled
    assert api_behavior["OriginRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"  # AllViewerExceptHost
    origins = {origin["Id"]: origin for origin in config["Origins"]}
    s3_origins = [o for o in origins.values() if "S3OriginConfig" in o]
    assert len(s3_origins) == 1
    assert "OriginAccessControlId" in s3_origins[0]
    api_origin = origins[api_behavior["TargetOriginId"]]
    assert "DeploymentStageprod" in json.dumps(api_origin["OriginPath"])  # the prod stage of the API stack's API
    assert "MysfitsApi" in json.dumps(api_origin["DomainName"])
    headers = only(synthesized.resources("MysfitsWebsite", "AWS::CloudFront::ResponseHeadersPolicy"))
    security = headers["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert "default-src 'self'" in security["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000


def test_site_deployment_ships_the_web_folder_and_the_catalog(synthesized):
    deployment = only(synthesized.resources("MysfitsWebsite", "Custom::CDKBucketDeployment"))["Properties"]
    assert len(deployment["SourceObjectKeys"]) == 2
    assert deployment["Prune"] is True
    assert "DistributionId" in deployment
    staged = {tuple(sorted(path.name for path in d.iterdir())) for d in synthesized.asset_dirs("MysfitsWebsite")}
    assert ("mysfits.json",) in staged
    assert any("index.html" in names and "questionnaire.json" in names for names in staged)


def test_repository_is_seeded_with_the_project(synthesized):
    repository = only(synthesized.resources("MysfitsRepository", "AWS::CodeCommit::Repository"))["Properties"]
    assert repository["RepositoryName"] == synthesized.config.repository_name
    assert repository["Code"]["BranchName"] == "main"
    (staged,) = synthesized.asset_dirs("MysfitsRepository")
    for expected in ("notebooks", "lambda", "app.py", "stacks", "mysfits", "README.md"):
        assert (staged / expected).exists(), expected
    for excluded in (".git", ".venv", "node_modules", "cdk.out", ".local"):
        assert not (staged / excluded).exists(), excluded


EXPECTED_OUTPUTS = {
    "MysfitsRepository": {"RepositoryName", "CloneUrlHttps", "CloneUrlSsh", "CloneUrlGrc"},
    "MysfitsNotebook": {"NotebookName", "NotebookUrl", "ArtifactsBucketName", "NotebookRoleArn", "EndpointName"},
    "MysfitsRecommendations": {"FunctionName", "LogGroupName", "EndpointArn"},
    "MysfitsApi": {"ApiUrl", "RecommendationsUrl"},
    "MysfitsWebsite": {"SiteUrl", "DistributionId", "SiteBucketName"},
    "MysfitsMonitoring": {"DashboardUrl", "AlarmTopicArn"},
}


@pytest.mark.parametrize("stack_name", sorted(EXPECTED_OUTPUTS))
def test_every_stack_has_its_outputs(synthesized, stack_name):
    outputs = set(synthesized.templates[stack_name].get("Outputs", {}))
    assert EXPECTED_OUTPUTS[stack_name] <= outputs


def test_no_retained_resource_without_a_reason(synthesized):
    retained = {
        f"{stack}/{logical_id}"
        for stack, template in synthesized.templates.items()
        for logical_id, resource in template["Resources"].items()
        if resource.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate")
        or resource.get("UpdateReplacePolicy") == "Retain"
    }
    assert retained <= set(RETAIN_ALLOWED), sorted(retained - set(RETAIN_ALLOWED))


def test_synthesis_needs_no_account_or_lookups(synthesized):
    for stack in synthesized.assembly.stacks:
        assert stack.environment.account == "unknown-account"
        assert stack.environment.region == "unknown-region"
    manifest = json.loads((Path(synthesized.assembly.directory) / "manifest.json").read_text())
    assert "missing" not in manifest
