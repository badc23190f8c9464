#!/usr/bin/env python3
"""CDK entry point: read the config from cdk.json context, build the six stacks, and run cdk-nag on them."""

import sys

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.application import build_app
from stacks.config import ConfigError, MysfitsConfig
from stacks.constructs.seeded_repository import RepositorySeedError


def main() -> int:
    app = cdk.App()
    try:
        config = MysfitsConfig.from_context(app.node.try_get_context)
        build_app(app, config)
    except (ConfigError, RepositorySeedError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
