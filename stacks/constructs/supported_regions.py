"""Deploy-time region checks: the stacks are region-agnostic at synth, so CloudFormation checks the region.

A CloudFormation rule fails the deployment before any resource is created, with the message below, instead of
an obscure error from a mapping lookup or from CloudFront half-way through.
"""

from aws_cdk import Aws, CfnRule, CfnRuleAssertion, Fn
from constructs import Construct

from mysfits.project_files import load_knn_image_registries

# CloudFront delivers standard logs only to buckets in Regions enabled by default, not in opt-in Regions
# (CloudFront Developer Guide, "Choosing an Amazon S3 bucket for your standard logs").
CLOUDFRONT_LOG_REGIONS = (
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
)


def knn_regions() -> tuple[str, ...]:
    """Regions where AWS publishes the built-in k-NN image (mysfits/ml/knn_image_registries.json)."""
    return tuple(sorted(load_knn_image_registries()))


class SupportedRegions(Construct):
    """Fails the deployment at once in a region outside `regions`, naming why and where it works."""

    def __init__(self, scope: Construct, construct_id: str, *, regions: tuple[str, ...], why: str) -> None:
        super().__init__(scope, construct_id)
        self.regions = tuple(sorted(regions))
        self.rule = CfnRule(
            self,
            "Rule",
            assertions=[
                CfnRuleAssertion(
                    assert_=Fn.condition_contains(list(self.regions), Aws.REGION),
                    assert_description=f"{why}. Deploy to one of: {', '.join(self.regions)}",
                )
            ],
        )
