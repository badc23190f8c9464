"""Dispatch `python -m mysfits <command>` to the module that owns the command."""

import importlib

COMMANDS = {
    "generate": ("mysfits.ml.training", "Write seeded synthetic questionnaire data (original and k-NN CSV)."),
    "train": ("mysfits.ml.training", "Train the local k-NN model and save the artifact the local endpoint loads."),
    "serve": ("mysfits.standins.server", "Run the website, the API and the local SageMaker endpoint on 127.0.0.1."),
    "aws": ("mysfits.cli.aws", "deploy-model / delete-model: train and host the model on AWS (needs credentials)."),
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print("usage: python -m mysfits {" + ",".join(COMMANDS) + "} [options]\n")
        for name, (_, summary) in COMMANDS.items():
            print(f"  {name:<10} {summary}")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module_name, _ = COMMANDS[argv[0]]
    module = importlib.import_module(module_name)
    return module.main(argv)
