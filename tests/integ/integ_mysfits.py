"""`make integ`: deploy the stacks to your account, call the API and the website, then destroy everything.

integ-runner runs this file (deploy, assert, destroy); `make test` only compares what it synthesizes with the
committed snapshot, offline (tests/test_integ_snapshot.py).
"""

import json
import sys
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_ROOT))  # integ-runner runs this file by its path, from its own directory

import aws_cdk as cdk  # noqa: E402
from aws_cdk import integ_tests_alpha as integ  # noqa: E402

from mysfits.project_files import load_cdk_context  # noqa: E402
from stacks.application import build_app  # noqa: E402
from stacks.config import MysfitsConfig  # noqa: E402

# Its own SageMaker names, so the test never touches a deployed app's notebook or endpoint, and no CodeCommit
# repository (closed to new AWS accounts). The stack names are the app's: run it where the app is not deployed.
INTEG_CONTEXT = {
    "mysfits:endpointName": "mysfits-integ-recommender",
    "mysfits:sagemakerNamePrefix": "mysfits-integ-",
    "mysfits:createRepository": False,
}
# CloudFront may answer from its edge a few minutes after the stack is complete.
SITE_TIMEOUT = cdk.Duration.minutes(10)


def integ_context() -> dict[str, Any]:
    """cdk.json's context (feature flags included) with the test's own names."""
    return {**load_cdk_context(), **INTEG_CONTEXT}


def build_integ_app(outdir: str | None = None) -> cdk.App:
    app = cdk.App(context=integ_context(), outdir=outdir)
    config = MysfitsConfig.from_context(app.node.try_get_context)
    stacks = build_app(app, config)
    test = integ.IntegTest(
        app,
        "MysfitsInteg",
        test_cases=[stacks.notebook, stacks.recommendations, stacks.api, stacks.website],
        # The committed snapshot has no assets to deploy first: test the current app only.
        stack_update_workflow=False,
    )

    # No model has been trained, so the endpoint does not exist: the API must say so, naming it, with a 503.
    test.assertions.http_api_call(
        stacks.api.api.url_for_path("/recommendations"),
        method="POST",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"entry": [1, 2, 3, 4, 5]}),
    ).expect(
        integ.ExpectedResult.object_like(
            {
                "status": 503,
                "body": {
                    "message": integ.Match.string_like_regexp(
                        f"is not deployed: SageMaker endpoint '{config.endpoint_name}'"
                    )
                },
            }
        )
    )

    # The website's front page, through CloudFront.
    test.assertions.http_api_call(f"https://{stacks.website.site.distribution.distribution_domain_name}/").expect(
        integ.ExpectedResult.object_like({"status": 200, "ok": True})
    ).wait_for_assertions(total_timeout=SITE_TIMEOUT, interval=cdk.Duration.seconds(30))
    return app


if __name__ == "__main__":
    build_integ_app().synth()
