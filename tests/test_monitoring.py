"""MysfitsMonitoring: every alarm pages through the encrypted topic, says why, and chooses how missing data counts."""

import json
import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from stacks.constructs.alarm_topic import AlarmTopic
from stacks.constructs.recommendation_function import METRICS_NAMESPACE
from stacks.constructs.service_monitoring import ALARM_NAME_PREFIX, CLOUDFRONT_METRICS_REGION

STACK = "MysfitsMonitoring"
# name -> (metric, statistic, threshold, comparison, datapoints to alarm, evaluation periods, period in seconds)
EXPECTED_ALARMS = {
    "mysfits-Api-Fault-Rate-Critical": ("5XXError", "Average", 0.05, "GreaterThanThreshold", 2, 3, 300),
    "mysfits-Api-Latency-P99-Warning": ("Latency", "p99", 3000, "GreaterThanThreshold", 3, 3, 300),
    "mysfits-Function-Fault-Count-Critical": ("Errors", "Sum", 0, "GreaterThanThreshold", 1, 1, 300),
    "mysfits-Recommendations-ModelNotDeployed-Critical": (
        "Requests",
        "Sum",
        1,
        "GreaterThanOrEqualToThreshold",
        3,
        5,
        60,
    ),
}


def alarms(synthesized) -> dict[str, dict[str, Any]]:
    return {
        alarm["Properties"]["AlarmName"]: alarm["Properties"]
        for alarm in synthesized.resources(STACK, "AWS::CloudWatch::Alarm").values()
    }


def only_logical_id(synthesized, resource_type: str) -> str:
    (logical_id,) = synthesized.resources(STACK, resource_type)
    return logical_id


def dashboard_metrics(synthesized) -> list[list[Any]]:
    """Every metric line of the dashboard, with CloudFormation tokens replaced by a placeholder."""
    (dashboard,) = synthesized.resources(STACK, "AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    body = json.loads("".join(part if isinstance(part, str) else "TOKEN" for part in parts))
    return [metric for widget in body["widgets"] for metric in widget["properties"].get("metrics", [])]


def test_the_four_alarms_have_the_reasoned_thresholds(synthesized):
    found = {}
    for name, alarm in alarms(synthesized).items():
        (query,) = alarm["Metrics"]
        stat = query["MetricStat"]
        found[name] = (
            stat["Metric"]["MetricName"],
            stat["Stat"],
            alarm["Threshold"],
            alarm["ComparisonOperator"],
            alarm["DatapointsToAlarm"],
            alarm["EvaluationPeriods"],
            stat["Period"],
        )
    assert found == EXPECTED_ALARMS


def test_every_alarm_pages_says_why_and_chooses_missing_data(synthesized):
    topic = only_logical_id(synthesized, "AWS::SNS::Topic")
    for name, alarm in alarms(synthesized).items():
        assert alarm["AlarmActions"] == [{"Ref": topic}], name
        assert alarm.get("ActionsEnabled", True) is True, name
        # The reason is the description: long enough to say what happened and why this threshold.
        assert len(alarm["AlarmDescription"]) >= 120, name
        assert re.search(r"\d", alarm["AlarmDescription"]), f"{name}: the reason should state its numbers"
        assert alarm["TreatMissingData"] == "notBreaching", name  # a quiet demo site is not a failing one


def test_alarm_names_match_the_pattern_cloudwatch_may_publish_for(synthesized):
    """Outside `mysfits-*` the topic and key policies would refuse the alarm: it would fire and tell no one."""
    for name in alarms(synthesized):
        assert name.startswith(f"{ALARM_NAME_PREFIX}-"), name
        assert len(name) <= 255, name


def test_the_percentile_alarm_ignores_sparse_periods(synthesized):
    assert alarms(synthesized)["mysfits-Api-Latency-P99-Warning"]["EvaluateLowSampleCountPercentile"] == "ignore"


def test_the_model_alarm_watches_the_handlers_not_deployed_outcome(synthesized):
    (query,) = alarms(synthesized)["mysfits-Recommendations-ModelNotDeployed-Critical"]["Metrics"]
    assert query["MetricStat"]["Metric"]["Namespace"] == METRICS_NAMESPACE
    assert query["MetricStat"]["Metric"]["Dimensions"] == [{"Name": "outcome", "Value": "not_deployed"}]


def test_the_function_gets_the_namespace_the_dashboard_reads(synthesized):
    (function,) = synthesized.resources("MysfitsRecommendations", "AWS::Lambda::Function").values()
    assert function["Properties"]["Environment"]["Variables"]["METRICS_NAMESPACE"] == METRICS_NAMESPACE
    assert function["Properties"]["LoggingConfig"]["LogFormat"] == "JSON"  # where `extra` becomes top-level EMF


def test_the_topic_is_encrypted_with_a_rotated_key_and_tls_only(synthesized):
    topic = only_logical_id(synthesized, "AWS::SNS::Topic")
    key = only_logical_id(synthesized, "AWS::KMS::Key")
    properties = synthesized.resources(STACK, "AWS::SNS::Topic")[topic]["Properties"]
    assert properties["KmsMasterKeyId"] == {"Fn::GetAtt": [key, "Arn"]}
    assert synthesized.resources(STACK, "AWS::KMS::Key")[key]["Properties"]["EnableKeyRotation"] is True
    (policy,) = synthesized.resources(STACK, "AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
    )


def test_cloudwatch_may_publish_and_encrypt_only_for_this_accounts_alarms(synthesized):
    (policy,) = synthesized.resources(STACK, "AWS::SNS::TopicPolicy").values()
    (key,) = synthesized.resources(STACK, "AWS::KMS::Key").values()
    grants = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"] + key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert sorted(json.dumps(s["Action"]) for s in grants) == sorted(
        ['"sns:Publish"', '["kms:Decrypt", "kms:GenerateDataKey*"]']
    )
    for statement in grants:
        assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
        source_arn = json.dumps(statement["Condition"]["ArnLike"]["aws:SourceArn"])
        assert source_arn.endswith(f':alarm:{ALARM_NAME_PREFIX}-*"]]}}'), source_arn


def test_no_one_is_subscribed_unless_an_address_is_configured(synthesized):
    assert synthesized.config.alarm_email == ""
    assert synthesized.resources(STACK, "AWS::SNS::Subscription") == {}


@pytest.mark.synth
def test_a_configured_address_is_subscribed_by_email():
    stack = cdk.Stack(cdk.App(), "Topic")
    AlarmTopic(stack, "Alarms", alarm_name_prefix=ALARM_NAME_PREFIX, email="ops@example.com")
    Template.from_stack(stack).has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com", "TopicArn": Match.any_value()}
    )


def test_cloudfront_metrics_are_read_from_us_east_1_and_never_alarmed_on(synthesized):
    cloudfront = [line for line in dashboard_metrics(synthesized) if line and line[0] == "AWS/CloudFront"]
    assert {line[1] for line in cloudfront} >= {"Requests", "4xxErrorRate", "5xxErrorRate"}
    for line in cloudfront:
        assert line[-1]["region"] == CLOUDFRONT_METRICS_REGION, line
    for name, alarm in alarms(synthesized).items():
        assert alarm["Metrics"][0]["MetricStat"]["Metric"]["Namespace"] != "AWS/CloudFront", name


@pytest.mark.parametrize("metric", ["Invocations", "Invocation4XXErrors", "Invocation5XXErrors", "ModelLatency"])
def test_the_dashboard_shows_the_endpoints_metrics(synthesized, metric):
    lines = [line for line in dashboard_metrics(synthesized) if line[:2] == ["AWS/SageMaker", metric]]
    assert lines
    for line in lines:
        dimensions = dict(zip(line[2:-1:2], line[3:-1:2], strict=True))
        assert dimensions == {"EndpointName": synthesized.config.endpoint_name, "VariantName": "AllTraffic"}


def test_the_dashboard_shows_every_outcome_and_mysfit_the_handler_emits(synthesized):
    searches = [line[0]["expression"] for line in dashboard_metrics(synthesized) if "expression" in line[0]]
    for dimension in ("outcome", "mysfit"):
        assert any(
            f'{{"{METRICS_NAMESPACE}","{dimension}"}}' in search and 'MetricName="Requests"' in search
            for search in searches
        ), dimension
    latency = [line for line in dashboard_metrics(synthesized) if line[:2] == [METRICS_NAMESPACE, "ModelLatency"]]
    assert {line[-1]["stat"] for line in latency} == {"p50", "p99"}


def test_the_dashboard_url_is_an_output(synthesized):
    outputs = synthesized.templates[STACK]["Outputs"]
    url = json.dumps(outputs["DashboardUrl"]["Value"])
    assert "console.aws.amazon.com/cloudwatch/home?region=" in url
    assert "#dashboards:name=mysfits-recommendations" in url
