"""ONNX op handlers, one module per op family. Importing this package registers them all: every module in
this folder is imported, so a new op is one new file (with ``@register("OpType")``) plus its test."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
