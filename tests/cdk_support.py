"""Synthesizing the app for tests through the same `build_app` that `app.py` calls."""

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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
for _name, _value in JSII_NODE_20_SILENCERS.items():
    os.environ.setdefault(_name, _value)
import aws_cdk as cdk  # noqa: E402

from stacks.application import MysfitsStacks, build_app  # noqa: E402
from stacks.config import MysfitsConfig  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def cdk_json_context() -> dict[str, Any]:
    """`cdk.App()` under pytest does not read cdk.json, so the tests pass its context in explicitly."""
    return json.loads((PROJECT_ROOT / "cdk.json").read_text(encoding="utf-8"))["context"]


@dataclass(frozen=True)
class SynthesizedApp:
    app: cdk.App
    config: MysfitsConfig
    stacks: MysfitsStacks
    assembly: cdk.cx_api.CloudAssembly
    templates: dict[str, dict[str, Any]]

    def resources(self, stack_name: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.templates[stack_name]["Resources"].items()
            if resource["Type"] == resource_type
        }

    def asset_dirs(self, stack_name: str) -> list[Path]:
        """The staged source folders of a stack's file assets, from its asset manifest."""
        manifest = json.loads((Path(self.assembly.directory) / f"{stack_name}.assets.json").read_text())
        folders = [Path(self.assembly.directory) / asset["source"]["path"] for asset in manifest["files"].values()]
        return [folder for folder in folders if folder.is_dir()]

    def all_resources(self, resource_type: str) -> dict[tuple[str, str], dict[str, Any]]:
        return {
            (stack_name, logical_id): resource
            for stack_name in self.templates
            for logical_id, resource in self.resources(stack_name, resource_type).items()
        }


def synthesize(context: dict[str, Any], outdir: Path) -> SynthesizedApp:
    app = cdk.App(context=context, outdir=str(outdir))
    config = MysfitsConfig.from_context(app.node.try_get_context)
    stacks = build_app(app, config)
    assembly = app.synth()
    templates = {stack.stack_name: stack.template for stack in assembly.stacks}
    return SynthesizedApp(app, config, stacks, assembly, templates)
