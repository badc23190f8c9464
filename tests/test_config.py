"""The config object: cdk.json defaults, CLI-string coercion, clear errors for unusable values."""

import os
import subprocess
import sys

import pytest

from stacks.config import ConfigError, MysfitsConfig
from tests.cdk_support import PROJECT_ROOT, cdk_json_context


def from_mapping(values: dict) -> MysfitsConfig:
    return MysfitsConfig.from_context(values.get)


def test_cdk_json_context_gives_the_documented_defaults():
    config = from_mapping(cdk_json_context())
    assert config == MysfitsConfig()
    assert config.endpoint_name == "mysfits-recommender"
    assert config.notebook_instance_type == "ml.t3.medium"
    assert config.notebook_idle_minutes == 60
    assert config.create_repository is True


def test_cli_context_strings_are_coerced():
    config = from_mapping(
        {
            "mysfits:notebookIdleMinutes": "45",
            "mysfits:createRepository": "false",
            "mysfits:apiThrottleRateLimit": "12.5",
        }
    )
    assert config.notebook_idle_minutes == 45
    assert config.create_repository is False
    assert config.api_throttle_rate_limit == 12.5


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        MysfitsConfig().endpoint_name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("mysfits:notebookIdleMinutes", "soon", "mysfits:notebookIdleMinutes must be a number"),
        ("mysfits:notebookIdleMinutes", 2, "between 5 and 1440"),
        ("mysfits:notebookIdleMinutes", 7.5, "whole number"),
        ("mysfits:createRepository", "yes", "must be true or false"),
        ("mysfits:logRetentionDays", 31, "logRetentionDays must be one of"),
        ("mysfits:endpointName", "other-endpoint", "must start with"),
        ("mysfits:endpointName", "Mysfits-Recommender", "must start with"),  # the log-group grant is case-sensitive
        ("mysfits:endpointName", "mysfits_bad name", "not a valid SageMaker endpoint name"),
        ("mysfits:notebookInstanceType", "t3.medium", "not a SageMaker instance type"),
        ("mysfits:apiThrottleBurstLimit", 0, "between 1 and 5000"),
        ("mysfits:repositoryName", "bad name!", "not a valid name"),
        ("mysfits:alarmEmail", "ops.example.com", "alarmEmail 'ops.example.com' is not an email address"),
        ("mysfits:alarmEmail", "ops@example", "is not an email address"),
        ("mysfits:alarmEmail", "two@ops@example.com", "is not an email address"),
        ("mysfits:alarmEmail", "ops @example.com", "is not an email address"),
        ("mysfits:alarmEmail", "o" * 250 + "@example.com", "is not an email address"),
        ("mysfits:alarmEmail", 42, "must be a non-empty string"),
        ("mysfits:repositoryName", "", "must be a non-empty string"),
    ],
)
def test_unusable_values_are_refused_with_the_key_named(key, value, message):
    with pytest.raises(ConfigError, match=message):
        from_mapping({key: value})


def test_app_exits_with_a_clear_error_and_no_traceback(tmp_path):
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": '{"mysfits:notebookIdleMinutes": "soon"}',
        "CDK_OUTDIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: mysfits:notebookIdleMinutes must be a number, got 'soon'"


def test_without_the_repository_the_notebook_clones_nothing():
    """Checked on the construct tree: a second full synthesis would double the suite's CDK time."""
    import aws_cdk as cdk

    from stacks.application import build_app

    app = cdk.App(context={**cdk_json_context(), "mysfits:createRepository": False})
    stacks = build_app(app, MysfitsConfig.from_context(app.node.try_get_context))
    assert stacks.repository is None
    assert app.node.try_find_child("MysfitsRepository") is None
    assert stacks.notebook.notebook.instance.default_code_repository is None
    statements = stacks.notebook.notebook.role.node.find_child("DefaultPolicy").document.to_json()["Statement"]
    assert not [s for s in statements if "codecommit" in str(s["Action"])]
    assert [s for s in statements if s.get("Sid") == "PassOwnRoleToSageMaker"]


@pytest.mark.parametrize(("raw", "expected"), [("", ""), ("ops@example.com", "ops@example.com")])
def test_alarm_email_is_optional_and_subscribed_when_set(raw, expected):
    assert from_mapping({"mysfits:alarmEmail": raw}).alarm_email == expected
    assert MysfitsConfig().alarm_email == ""  # cdk.json ships it empty: nobody is emailed until someone opts in
