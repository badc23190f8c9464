"""The environment the pinned CDK CLI runs in offline: for the tests' `npx cdk synth` and `make bench`."""

import os
import subprocess


def node_major_version() -> int | None:
    try:
        version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return int(version.strip().lstrip("v").split(".")[0])


# jsii warns on every import under Node 20, which is end of life for the CDK (`make node-check` says so once).
# Only there are its warnings silenced, as the Makefile does; on 22 and 24 nothing is.
JSII_NODE_20_SILENCERS = (
    {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"}
    if node_major_version() == 20
    else {}
)


def offline_cli_env() -> dict[str, str]:
    """The environment for the CDK CLI with no AWS access: no credentials, no metadata lookups, no telemetry."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        CDK_DISABLE_VERSION_CHECK="1",
        CDK_DISABLE_CLI_TELEMETRY="true",
        **JSII_NODE_20_SILENCERS,
    )
    return env
