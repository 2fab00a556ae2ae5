"""The `viewer` blueprint (URL prefix /viewer): one module per page group, all registered on one blueprint."""

import importlib
import pkgutil

from flask import Blueprint

bp = Blueprint("viewer", __name__)

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
