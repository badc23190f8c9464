"""ARNs of the SageMaker resources the model's constructs grant on: names in lower case, as SageMaker writes them."""

from aws_cdk import Stack

from mysfits.settings import SageMakerNames


def sagemaker_arn(stack: Stack, resource: str, name: str) -> str:
    return stack.format_arn(service="sagemaker", resource=resource, resource_name=name.lower())


def endpoint_arn(stack: Stack, names: SageMakerNames) -> str:
    """The one endpoint the Lambda calls."""
    return sagemaker_arn(stack, "endpoint", names.endpoint_name)


def run_arn(stack: Stack, resource: str, names: SageMakerNames) -> str:
    """Every run's training job, model or endpoint config: `<prefix>knn-*`."""
    return sagemaker_arn(stack, resource, f"{names.run_prefix}*")
