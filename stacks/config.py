"""The app's one configuration object, read once from `cdk.json` context in `app.py` (and in the tests)."""

import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from aws_cdk import aws_logs as logs

from mysfits.settings import (
    CONTEXT_PREFIX,
    DEFAULT_ENDPOINT_NAME,
    DEFAULT_HOSTING_INSTANCE_TYPE,
    DEFAULT_NAME_PREFIX,
    Hosting,
    InvokeBudget,
    SageMakerNames,
    SettingsError,
    check_sagemaker_names,
    invoke_budget,
)

# CloudWatch Logs accepts only these retention periods; the numbers keep cdk.json readable.
RETENTION_BY_DAYS = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}

CODECOMMIT_NAME = re.compile(r"^[\w.-]{1,100}$")
# One address SNS can deliver to: no spaces, one @, a dot in the domain; RFC 5321 caps a path at 254 characters.
EMAIL_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


# Who owns API Gateway's account-wide CloudWatch role (AWS::ApiGateway::Account, one per account and region).
API_GATEWAY_ACCOUNT_ROLE_CHOICES = {
    "create": "the API stack creates the role and sets it on the account; both are retained by `cdk destroy`",
    "existing": "the account already has a CloudWatch role set (`aws apigateway get-account`); use it as it is",
}


class ConfigError(SettingsError):
    """A context value in cdk.json (or `-c key=value`) that the app cannot use; the message names the key."""


@dataclass(frozen=True, kw_only=True)
class MysfitsConfig:
    """Everything the stacks may vary on. Built once; stacks never read env vars or context themselves."""

    endpoint_name: str = DEFAULT_ENDPOINT_NAME
    sagemaker_name_prefix: str = DEFAULT_NAME_PREFIX
    notebook_instance_type: str = "ml.t3.medium"
    notebook_idle_minutes: int = 60
    api_throttle_rate_limit: float = 50.0
    api_throttle_burst_limit: int = 100
    log_retention_days: int = 30
    create_repository: bool = True
    repository_name: str = "mysfits-recommendations"
    api_gateway_account_role: str = "create"
    alarm_email: str = ""  # empty: alarms still go to the SNS topic, nobody is subscribed
    # The endpoint's hosting: "instance" (one endpointInstanceType) or "serverless" (memory and concurrency).
    endpoint_hosting: str = "instance"
    endpoint_instance_type: str = DEFAULT_HOSTING_INSTANCE_TYPE
    serverless_memory_size_mb: int = 2048
    serverless_max_concurrency: int = 5

    def __post_init__(self) -> None:
        try:
            check_sagemaker_names(endpoint_name=self.endpoint_name, name_prefix=self.sagemaker_name_prefix)
            self.hosting  # noqa: B018 - validates the hosting settings now, with the key in the message
        except SettingsError as error:
            raise ConfigError(str(error)) from None
        if self.api_gateway_account_role not in API_GATEWAY_ACCOUNT_ROLE_CHOICES:
            raise ConfigError(
                f"{CONTEXT_PREFIX}apiGatewayAccountRole must be one of {sorted(API_GATEWAY_ACCOUNT_ROLE_CHOICES)}, "
                f"got {self.api_gateway_account_role!r}"
            )
        if not re.fullmatch(r"ml\.[a-z0-9]+\.[a-z0-9]+", self.notebook_instance_type):
            raise ConfigError(
                f"{CONTEXT_PREFIX}notebookInstanceType {self.notebook_instance_type!r} is not a SageMaker "
                "instance type such as 'ml.t3.medium'"
            )
        if not 5 <= self.notebook_idle_minutes <= 24 * 60:
            raise ConfigError(f"{CONTEXT_PREFIX}notebookIdleMinutes must be between 5 and 1440")
        if not 0 < self.api_throttle_rate_limit <= 10_000:
            raise ConfigError(f"{CONTEXT_PREFIX}apiThrottleRateLimit must be in (0, 10000] requests per second")
        if not 1 <= self.api_throttle_burst_limit <= 5_000:
            raise ConfigError(f"{CONTEXT_PREFIX}apiThrottleBurstLimit must be between 1 and 5000")
        if self.log_retention_days not in RETENTION_BY_DAYS:
            raise ConfigError(
                f"{CONTEXT_PREFIX}logRetentionDays must be one of {sorted(RETENTION_BY_DAYS)}, "
                f"got {self.log_retention_days}"
            )
        if not CODECOMMIT_NAME.match(self.repository_name) or self.repository_name.endswith(".git"):
            raise ConfigError(f"{CONTEXT_PREFIX}repositoryName {self.repository_name!r} is not a valid name")
        if self.alarm_email and (len(self.alarm_email) > 254 or not EMAIL_ADDRESS.match(self.alarm_email)):
            raise ConfigError(
                f"{CONTEXT_PREFIX}alarmEmail {self.alarm_email!r} is not an email address such as "
                "'ops@example.com' (leave it empty to subscribe nobody)"
            )

    @property
    def hosting(self) -> Hosting:
        return Hosting(
            kind=self.endpoint_hosting,
            instance_type=self.endpoint_instance_type,
            memory_size_mb=self.serverless_memory_size_mb,
            max_concurrency=self.serverless_max_concurrency,
        )

    @property
    def invoke_budget(self) -> InvokeBudget:
        """The recommendation handler's timeouts and its function's, sized for the hosting."""
        return invoke_budget(self.hosting)

    @property
    def sagemaker_names(self) -> SageMakerNames:
        return SageMakerNames(endpoint_name=self.endpoint_name, name_prefix=self.sagemaker_name_prefix)

    @property
    def log_retention(self) -> logs.RetentionDays:
        return RETENTION_BY_DAYS[self.log_retention_days]

    @property
    def notebook_instance_name(self) -> str:
        return f"{self.sagemaker_name_prefix}notebook"

    @classmethod
    def from_context(cls, try_get_context: Callable[[str], Any]) -> "MysfitsConfig":
        """Read `mysfits:<camelCaseName>` keys; CLI `-c` values arrive as strings, so coerce by field type."""
        values: dict[str, Any] = {}
        for field in fields(cls):
            key = CONTEXT_PREFIX + _camel_case(field.name)
            raw = try_get_context(key)
            if raw is not None:
                values[field.name] = _coerce(key, raw, field.type, may_be_empty=field.default == "")
        return cls(**values)


def _camel_case(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _coerce(key: str, raw: Any, kind: Any, *, may_be_empty: bool = False) -> Any:
    kind_name = kind if isinstance(kind, str) else kind.__name__
    if kind_name == "bool":
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in ("true", "false"):
            return str(raw).lower() == "true"
        raise ConfigError(f"{key} must be true or false, got {raw!r}")
    if kind_name in ("int", "float"):
        number_type = int if kind_name == "int" else float
        if isinstance(raw, bool):
            raise ConfigError(f"{key} must be a number, got {raw!r}")
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{key} must be a number, got {raw!r}") from None
        if number_type is int and not number.is_integer():
            raise ConfigError(f"{key} must be a whole number, got {raw!r}")
        return number_type(number)
    if not isinstance(raw, str) or not (raw or may_be_empty):
        raise ConfigError(f"{key} must be a non-empty string, got {raw!r}")
    return raw
