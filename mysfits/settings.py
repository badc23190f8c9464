"""Facts that the CDK app, the local stand-ins and the notebook share: defaults, SageMaker names, the API's path
and stage, the questionnaire's answers, the site's Content-Security-Policy, the handler's time budget.

CDK-free and Python 3.10-compatible, because the notebook imports it on the instance's `conda_python3` kernel,
while `stacks/config.py` builds the app's config on top of it. What cannot import it (the Lambda handler's own
package, the website's JavaScript, the OpenAPI document) is checked against it by tests/test_shared_facts.py.
Precedence on the notebook side: the stack's settings file (written by the on-start script on the instance), then
`cdk.json` context, then the defaults here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any

from mysfits.project_files import load_cdk_context, load_openapi

# Written on every start of the notebook instance by the Notebook stack's on-start script.
STACK_SETTINGS_PATH = Path.home() / "SageMaker" / ".mysfits-stack.json"
CONTEXT_PREFIX = "mysfits:"

DEFAULT_ENDPOINT_NAME = "mysfits-recommender"
DEFAULT_NAME_PREFIX = "mysfits-"
# SageMaker names: letters, digits and hyphens, at most 63 characters (CreateEndpoint's EndpointName pattern).
SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
NAME_PREFIX_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,30}-")
# `<prefix>knn-YYYYmmdd-HHMMSS`: 19 characters after the prefix, so a 32-character prefix still fits in 63.
RUN_NAME_SUFFIX_LENGTH = len("knn-20260101-000000")


# --- The API, on AWS and locally --------------------------------------------------------------------------------

# The questionnaire: FEATURE_DIM answers, each an integer from 1 to N_ANSWERS (the k-NN's feature_dim, the lattice's
# side, the API's request schema, the handler's check and the website's form).
FEATURE_DIM = 5
N_ANSWERS = 8
N_CELLS = N_ANSWERS**FEATURE_DIM  # 32768 possible questionnaires
# The synthetic questionnaire data when nobody says otherwise (the CLI, the notebook, the local product).
DEFAULT_ROWS = 1_000_000
DEFAULT_SEED = 7
# The REST API's one stage: API Gateway serves `/<stage>/<path>`, CloudFront forwards the bare path to it.
API_STAGE_NAME = "prod"
# The page loads only its own files and calls only its own origin, so the policy can be this strict (CloudFront's
# response-headers policy on AWS, the local website server locally).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


@cache
def api_path() -> str:
    """`/recommendations`: the one path of api/openapi.json, which owns it (read when asked: the clean-up Lambda
    imports this module without the document)."""
    (path,) = load_openapi()["paths"]
    return path


class SettingsError(ValueError):
    """A setting the app or the notebook cannot use; the message names where it came from."""


def check_sagemaker_names(*, endpoint_name: str, name_prefix: str, source: str = CONTEXT_PREFIX) -> None:
    """The rules both sides rely on: valid names, and everything the project creates under one prefix."""
    if not NAME_PREFIX_PATTERN.fullmatch(name_prefix):
        raise SettingsError(
            f"{source}sagemakerNamePrefix {name_prefix!r} must be lower-case letters, digits and hyphens "
            "ending in '-', at most 32 characters"
        )
    if not SAGEMAKER_NAME.match(endpoint_name):
        raise SettingsError(
            f"{source}endpointName {endpoint_name!r} is not a valid SageMaker endpoint name "
            "(letters, digits and hyphens, at most 63 characters)"
        )
    if not endpoint_name.startswith(name_prefix):
        # Exactly, case included: IAM's log-group grants and SageMaker's log group names are case-sensitive.
        raise SettingsError(
            f"{source}endpointName {endpoint_name!r} must start with {source}sagemakerNamePrefix "
            f"{name_prefix!r}: the notebook role may only manage SageMaker resources under that prefix"
        )


@dataclass(frozen=True)
class SageMakerNames:
    """The endpoint the Lambda calls, and the prefix every training job, model and endpoint config carries."""

    endpoint_name: str = DEFAULT_ENDPOINT_NAME
    name_prefix: str = DEFAULT_NAME_PREFIX

    def __post_init__(self) -> None:
        check_sagemaker_names(endpoint_name=self.endpoint_name, name_prefix=self.name_prefix)

    @property
    def run_prefix(self) -> str:
        """What every per-run name starts with; clean-up deletes exactly the models and configs under it."""
        return f"{self.name_prefix}knn-"

    def run_name(self, now: datetime | None = None) -> str:
        """`<prefix>knn-YYYYmmdd-HHMMSS` (UTC), shared by one run's training job, model and endpoint config."""
        now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)  # a caller's local time names UTC too
        return f"{self.run_prefix}{now.strftime('%Y%m%d-%H%M%S')}"

    def check(self, name: str) -> str:
        """Refuse a name outside the prefix before SageMaker does (with AccessDenied, after a long wait)."""
        if not name.startswith(self.name_prefix):
            raise SettingsError(
                f"SageMaker resource names must start with {self.name_prefix!r} (the notebook role's scope): {name!r}"
            )
        return name


def knn_image_uri_for(account: str, region: str) -> str:
    """The built-in k-NN image in a region (account and region may be CloudFormation tokens in the stack)."""
    return f"{account}.dkr.ecr.{region}.amazonaws.com/knn:1"


def stack_settings(path: Path = STACK_SETTINGS_PATH) -> dict[str, str]:
    """What the on-start script wrote on the instance: region, artifactsBucket, roleArn, endpointName,
    namePrefix. Empty off the instance, so local mode and tests never depend on it."""
    try:
        settings = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise SettingsError(f"{path} is unreadable ({error}); restart the notebook instance to rewrite it") from None
    if not isinstance(settings, dict):
        raise SettingsError(f"{path} must hold a JSON object; restart the notebook instance to rewrite it")
    return {key: str(value) for key, value in settings.items()}


def sagemaker_names(*, stack: dict[str, str] | None = None, context: dict[str, Any] | None = None) -> SageMakerNames:
    """The names in force: the stack's settings file on the instance, else cdk.json, else the defaults."""
    stack = stack_settings() if stack is None else stack
    context = load_cdk_context() if context is None else context
    endpoint = stack.get("endpointName") or context.get(f"{CONTEXT_PREFIX}endpointName") or DEFAULT_ENDPOINT_NAME
    prefix = stack.get("namePrefix") or context.get(f"{CONTEXT_PREFIX}sagemakerNamePrefix") or DEFAULT_NAME_PREFIX
    return SageMakerNames(endpoint_name=str(endpoint), name_prefix=str(prefix))


# --- The k-NN job and its hosting: one definition for the notebook's calls, the CLI and the state machine ------

TRAINING_INSTANCE_TYPE = "ml.m5.large"
# The built-in k-NN documentation ("EC2 Instance Recommendation for the k-NN Algorithm") recommends CPU instances
# for low-latency inference (GPU for throughput) and names no smallest type; its training example is ml.m5.2xlarge.
# ml.m5.large (2 vCPU, 8 GiB, about $0.115 an hour in us-east-1) is the smallest current general-purpose CPU type
# that SageMaker hosting offers in every region of knn_image_registries.json, and the type this project has run.
DEFAULT_HOSTING_INSTANCE_TYPE = "ml.m5.large"
TRAIN_CONTENT_TYPE = "text/csv;label_size=1"
VARIANT_NAME = "AllTraffic"
PREDICTOR_TYPE = "classifier"
# k when the caller gives none (`python -m mysfits train` prints the k it validated; pass that with --k).
DEFAULT_K = 10
INSTANCE_TYPE_PATTERN = re.compile(r"ml\.[a-z0-9]+\.[a-z0-9]+")
HOSTING_KINDS = ("instance", "serverless")
# ServerlessConfig (API reference): MemorySizeInMB 1024..6144 in 1 GB steps, MaxConcurrency 1..200.
SERVERLESS_MEMORY_SIZES_MB = tuple(range(1024, 6145, 1024))
SERVERLESS_MAX_CONCURRENCY = 200
# API Gateway ends a REST integration after 29 s: the function must answer (even a 504) before that.
API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS = 29


def knn_hyperparameters(*, k: int, sample_size: int) -> dict[str, str]:
    """The built-in k-NN's hyperparameters (strings, as CreateTrainingJob takes them)."""
    if int(k) < 1 or int(sample_size) < 1:
        raise SettingsError(f"k and sample_size must be positive, got k={k}, sample_size={sample_size}")
    return {
        "k": str(int(k)),
        "feature_dim": str(FEATURE_DIM),
        "predictor_type": PREDICTOR_TYPE,
        "sample_size": str(int(sample_size)),
    }


@dataclass(frozen=True)
class Hosting:
    """How the endpoint runs: one instance of `instance_type`, or serverless (billed per request)."""

    kind: str = "instance"
    instance_type: str = DEFAULT_HOSTING_INSTANCE_TYPE
    memory_size_mb: int = 2048
    max_concurrency: int = 5

    def __post_init__(self) -> None:
        source = CONTEXT_PREFIX
        if self.kind not in HOSTING_KINDS:
            raise SettingsError(f"{source}endpointHosting must be one of {list(HOSTING_KINDS)}, got {self.kind!r}")
        if not INSTANCE_TYPE_PATTERN.fullmatch(self.instance_type):
            raise SettingsError(
                f"{source}endpointInstanceType {self.instance_type!r} is not a SageMaker instance type "
                "such as 'ml.m5.large'"
            )
        if self.memory_size_mb not in SERVERLESS_MEMORY_SIZES_MB:
            raise SettingsError(
                f"{source}serverlessMemorySizeMb must be 1024..6144 MB in steps of 1024 MB, got {self.memory_size_mb}"
            )
        if not 1 <= self.max_concurrency <= SERVERLESS_MAX_CONCURRENCY:
            raise SettingsError(
                f"{source}serverlessMaxConcurrency must be 1..{SERVERLESS_MAX_CONCURRENCY}, got {self.max_concurrency}"
            )

    @property
    def serverless(self) -> bool:
        return self.kind == "serverless"

    def variant(self, model_name: str) -> dict[str, Any]:
        """The one `AllTraffic` production variant of an endpoint config for this hosting."""
        variant: dict[str, Any] = {"VariantName": VARIANT_NAME, "ModelName": model_name}
        if self.serverless:
            variant["ServerlessConfig"] = {
                "MemorySizeInMB": self.memory_size_mb,
                "MaxConcurrency": self.max_concurrency,
            }
        else:
            variant.update({"InstanceType": self.instance_type, "InitialInstanceCount": 1})
        return variant


@dataclass(frozen=True)
class InvokeBudget:
    """The recommendation handler's time budget for one InvokeEndpoint, and its function's timeout."""

    connect_timeout_seconds: int
    read_timeout_seconds: int
    max_attempts: int
    function_timeout_seconds: int
    # botocore's standard retry mode sleeps at most 1 s (jittered) before the one retry these budgets allow.
    retry_backoff_seconds: int = 1

    @property
    def worst_case_seconds(self) -> int:
        attempts = self.max_attempts * (self.connect_timeout_seconds + self.read_timeout_seconds)
        return attempts + (self.max_attempts - 1) * self.retry_backoff_seconds

    def environment(self) -> dict[str, str]:
        """What the handler reads (lambda/recommendations/handler.py)."""
        return {
            "INVOKE_CONNECT_TIMEOUT_SECONDS": str(self.connect_timeout_seconds),
            "INVOKE_READ_TIMEOUT_SECONDS": str(self.read_timeout_seconds),
            "INVOKE_MAX_ATTEMPTS": str(self.max_attempts),
        }


def invoke_budget(hosting: Hosting) -> InvokeBudget:
    """An instance endpoint answers k-NN in milliseconds: 2 s reads fail fast. A serverless endpoint may cold
    start for several seconds (container pull and model load), so reads get 10 s and the function 27 s: both
    attempts still end before the function does, and the function before API Gateway's 29 s."""
    if hosting.serverless:
        return InvokeBudget(
            connect_timeout_seconds=2, read_timeout_seconds=10, max_attempts=2, function_timeout_seconds=27
        )
    return InvokeBudget(connect_timeout_seconds=1, read_timeout_seconds=2, max_attempts=2, function_timeout_seconds=10)
