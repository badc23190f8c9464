"""Settings that the CDK app and the notebook side share: defaults, SageMaker names, and where they are read.

CDK-free and Python 3.10-compatible, because the notebook imports it on the instance's `conda_python3` kernel,
while `stacks/config.py` builds the app's config on top of it. Precedence on the notebook side: the stack's
settings file (written by the on-start script on the instance), then `cdk.json` context, then the defaults here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CDK_JSON_PATH = PROJECT_ROOT / "cdk.json"
# Region -> AWS account that publishes the built-in k-NN image (`<account>.dkr.ecr.<region>.amazonaws.com/knn:1`).
KNN_REGISTRIES_PATH = Path(__file__).resolve().with_name("knn_image_registries.json")
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
        now = now or datetime.now(timezone.utc)
        return f"{self.run_prefix}{now.strftime('%Y%m%d-%H%M%S')}"

    def check(self, name: str) -> str:
        """Refuse a name outside the prefix before SageMaker does (with AccessDenied, after a long wait)."""
        if not name.startswith(self.name_prefix):
            raise SettingsError(
                f"SageMaker resource names must start with {self.name_prefix!r} (the notebook role's scope): {name!r}"
            )
        return name


def knn_registries() -> dict[str, str]:
    """Where the k-NN image lives per region: the notebook builds image URIs, the stacks IAM and region rules."""
    return json.loads(KNN_REGISTRIES_PATH.read_text(encoding="utf-8"))


def cdk_context(path: Path = CDK_JSON_PATH) -> dict[str, Any]:
    """The `context` object of cdk.json; empty when the file is absent (e.g. a notebook copied elsewhere)."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as error:
        raise SettingsError(f"{path} is not valid JSON ({error})") from None
    context = document.get("context", {}) if isinstance(document, dict) else None
    if not isinstance(context, dict):
        raise SettingsError(f"{path}: 'context' must be a JSON object")
    return context


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
    context = cdk_context() if context is None else context
    endpoint = stack.get("endpointName") or context.get(f"{CONTEXT_PREFIX}endpointName") or DEFAULT_ENDPOINT_NAME
    prefix = stack.get("namePrefix") or context.get(f"{CONTEXT_PREFIX}sagemakerNamePrefix") or DEFAULT_NAME_PREFIX
    return SageMakerNames(endpoint_name=str(endpoint), name_prefix=str(prefix))
