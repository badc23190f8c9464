"""Load the real Lambda handler from `lambda/recommendations` (a path Python cannot import by name)."""

import importlib.util
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType
from typing import TextIO

from mysfits.project_files import HANDLER_PATH

MODULE_NAME = "recommendations_handler"
LOGGER_NAME = "recommendations"  # the handler's logger: one JSON line per request, its metrics included (EMF)


def load_recommendations_handler() -> ModuleType:
    """Import the handler once per process, exactly as Lambda would: its boto3 client is built at import.

    Set ENDPOINT_NAME, the region and (locally) AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME before the first call.
    """
    if MODULE_NAME in sys.modules:
        return sys.modules[MODULE_NAME]
    spec = importlib.util.spec_from_file_location(MODULE_NAME, HANDLER_PATH)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the Lambda handler from {HANDLER_PATH}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[MODULE_NAME]
        raise
    return module


@contextmanager
def environment(values: Mapping[str, str], *, unset: tuple[str, ...] = ()) -> Iterator[None]:
    """``os.environ`` with ``values`` set and ``unset`` removed, put back exactly as it was on exit."""
    saved = {key: os.environ.get(key) for key in (*values, *unset)}
    for key in unset:
        os.environ.pop(key, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def print_handler_log_lines(stream: TextIO) -> None:
    """Write the handler's log lines to `stream` as Lambda writes them to CloudWatch Logs: one JSON line each."""
    line = logging.StreamHandler(stream)
    line.setFormatter(logging.Formatter("%(message)s"))
    handler_logger = logging.getLogger(LOGGER_NAME)
    handler_logger.addHandler(line)
    handler_logger.setLevel(logging.INFO)
