"""Custom resource: when its stack is deleted, remove the SageMaker endpoint and every model and endpoint config
under `<prefix>knn-`, so nothing keeps billing after `cdk destroy`. Create and Update do nothing, and neither does a
Delete while the stack is not being deleted: CloudFormation also sends Delete when an update removes or replaces the
resource or a rollback undoes it, and a stack update must never touch a running endpoint.

Driven by CDK's provider framework: `on_event` starts the deletion, `is_complete` is polled until the endpoint is
gone and the rest is deleted. Any error is raised, so CloudFormation fails the delete and shows the reason. The
names logic is `mysfits.settings` and the clean-up is `mysfits.ml.sagemaker_job.clean_up`, packaged alongside.
"""

from __future__ import annotations

import logging
from typing import Any

import boto3
from botocore.exceptions import ClientError

from mysfits.ml.sagemaker_job import SETTLING_STATUSES, clean_up, describe_endpoint
from mysfits.settings import SageMakerNames

PHYSICAL_ID = "sagemaker-model-cleanup"  # stable: a changed property must never make CloudFormation delete it
STACK_BEING_DELETED = "DELETE_IN_PROGRESS"
logger = logging.getLogger("model-cleanup")
logger.setLevel(logging.INFO)
sagemaker = boto3.client("sagemaker")
cloudformation = boto3.client("cloudformation")


def _names(event: dict[str, Any]) -> SageMakerNames:
    properties = event["ResourceProperties"]
    return SageMakerNames(endpoint_name=properties["EndpointName"], name_prefix=properties["NamePrefix"])


def _start_endpoint_deletion(names: SageMakerNames) -> str:
    """Ask SageMaker to delete the endpoint; returns its status as seen ("missing" when there is none)."""
    endpoint = describe_endpoint(sagemaker, names.endpoint_name)
    if endpoint is None:
        return "missing"
    status = str(endpoint["EndpointStatus"])
    if status == "Deleting":
        return status
    try:
        sagemaker.delete_endpoint(EndpointName=names.endpoint_name)
    except ClientError as error:
        # Still creating or updating: it cannot be deleted yet, so it is asked again on the next poll.
        if status in SETTLING_STATUSES and error.response.get("Error", {}).get("Code") == "ValidationException":
            logger.info("endpoint %s is %s; deletion is asked again on the next poll", names.endpoint_name, status)
            return status
        raise
    logger.info("deleting endpoint %s (was %s)", names.endpoint_name, status)
    return "Deleting"


def _stack_is_being_deleted(event: dict[str, Any]) -> bool:
    """True only for `cdk destroy` (the stack's own delete), not for an update's clean-up phase or a rollback."""
    if event["RequestType"] != "Delete":
        return False
    (stack,) = cloudformation.describe_stacks(StackName=event["StackId"])["Stacks"]
    status = str(stack["StackStatus"])
    if status != STACK_BEING_DELETED:
        logger.info("stack is %s, not being deleted: the endpoint and its models stay", status)
    return status == STACK_BEING_DELETED


def on_event(event: dict[str, Any], context: object) -> dict[str, Any]:
    if _stack_is_being_deleted(event):
        _start_endpoint_deletion(_names(event))
    return {"PhysicalResourceId": event.get("PhysicalResourceId") or PHYSICAL_ID}


def is_complete(event: dict[str, Any], context: object) -> dict[str, Any]:
    if not _stack_is_being_deleted(event):
        return {"IsComplete": True}
    names = _names(event)
    if _start_endpoint_deletion(names) != "missing":
        return {"IsComplete": False}
    deleted = clean_up(sagemaker, names=names)
    logger.info("endpoint %s is gone; deleted %s", names.endpoint_name, deleted or "nothing else")
    return {"IsComplete": True}
