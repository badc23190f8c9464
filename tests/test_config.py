"""The config object: cdk.json defaults, CLI-string coercion, clear errors for unusable values."""

import os
import re
import subprocess
import sys

import pytest

from mysfits.project_files import PROJECT_ROOT
from mysfits.settings import API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS, Hosting, invoke_budget
from stacks.config import ConfigError, MysfitsConfig
from tests.cdk_support import cdk_json_context


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


@pytest.mark.slow  # app.py in a subprocess
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


@pytest.mark.synth
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


def test_hosting_defaults_to_one_instance_and_reads_serverless_settings():
    assert from_mapping(cdk_json_context()).hosting == Hosting()
    config = from_mapping(
        {
            "mysfits:endpointHosting": "serverless",
            "mysfits:serverlessMemorySizeMb": "3072",
            "mysfits:serverlessMaxConcurrency": "7",
        }
    )
    assert config.hosting.serverless
    assert config.hosting.variant("m") == {
        "VariantName": "AllTraffic",
        "ModelName": "m",
        "ServerlessConfig": {"MemorySizeInMB": 3072, "MaxConcurrency": 7},
    }


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("mysfits:endpointHosting", "spot", "mysfits:endpointHosting must be one of ['instance', 'serverless']"),
        ("mysfits:endpointInstanceType", "m5.large", "mysfits:endpointInstanceType 'm5.large' is not a SageMaker"),
        ("mysfits:serverlessMemorySizeMb", 1500, "mysfits:serverlessMemorySizeMb must be 1024..6144 MB"),
        ("mysfits:serverlessMemorySizeMb", 7168, "mysfits:serverlessMemorySizeMb must be 1024..6144 MB"),
        ("mysfits:serverlessMaxConcurrency", 0, "mysfits:serverlessMaxConcurrency must be 1..200"),
        ("mysfits:serverlessMaxConcurrency", 201, "mysfits:serverlessMaxConcurrency must be 1..200"),
    ],
)
def test_unusable_hosting_settings_name_the_key(key, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        from_mapping({key: value})


@pytest.mark.parametrize("hosting", [Hosting(), Hosting(kind="serverless"), Hosting(instance_type="ml.c5.large")])
def test_handler_budget_fits_the_function_timeout_and_api_gateway(hosting):
    """Attempts x (connect + read) plus the retry's backoff < the function's timeout < API Gateway's 29 s."""
    budget = invoke_budget(hosting)
    worst_case = (
        budget.max_attempts * (budget.connect_timeout_seconds + budget.read_timeout_seconds)
        + (budget.max_attempts - 1) * budget.retry_backoff_seconds
    )
    assert worst_case == budget.worst_case_seconds
    assert worst_case < budget.function_timeout_seconds < API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS == 29


def test_a_serverless_endpoint_gets_time_for_a_cold_start():
    instance, serverless = invoke_budget(Hosting()), invoke_budget(Hosting(kind="serverless"))
    assert instance.read_timeout_seconds == 2  # an instance answers k-NN in milliseconds: fail fast
    assert serverless.read_timeout_seconds >= 10 > instance.read_timeout_seconds


def test_the_handler_reads_its_budget_from_the_environment(tmp_path):
    """The stack passes the budget as environment variables; a fresh interpreter shows the handler uses them."""
    budget = invoke_budget(Hosting(kind="serverless"))
    script = (
        "import sys; sys.path.insert(0, 'lambda/recommendations'); import handler; "
        "c = handler.runtime_client.meta.config; "
        "print(c.connect_timeout, c.read_timeout, c.retries['total_max_attempts'])"
    )
    env = {**os.environ, **budget.environment(), "AWS_DEFAULT_REGION": "us-east-1", "ENDPOINT_NAME": "x"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == [
        str(budget.connect_timeout_seconds),
        str(budget.read_timeout_seconds),
        str(budget.max_attempts),
    ]
