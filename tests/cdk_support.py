"""Synthesizing the app for tests through the same `build_app` that `app.py` calls."""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mysfits.cli.cdk_env import JSII_NODE_20_SILENCERS

for _name, _value in JSII_NODE_20_SILENCERS.items():
    os.environ.setdefault(_name, _value)
import aws_cdk as cdk  # noqa: E402

from mysfits.project_files import load_cdk_context  # noqa: E402
from stacks.application import MysfitsStacks, build_app  # noqa: E402
from stacks.config import MysfitsConfig  # noqa: E402


def only(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The one resource of a `SynthesizedApp.resources(...)` answer; anything else fails with the logical IDs."""
    assert len(resources) == 1, sorted(resources)
    return next(iter(resources.values()))


def cdk_json_context() -> dict[str, Any]:
    """`cdk.App()` under pytest does not read cdk.json, so the tests pass its context in explicitly."""
    return load_cdk_context()


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
