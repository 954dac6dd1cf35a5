"""The EWS operations, one module per family; ``HANDLERS`` maps operation name -> function.

A handler takes a Context and the operation element and returns the
``m:<Operation>Response`` element. Per-item problems become per-item response
messages; a StoreError or SoapFault escaping a handler fails the whole request.
"""
from . import folders, items, misc, sync

HANDLERS = {}
for _module in (folders, items, misc, sync):
    HANDLERS.update(_module.HANDLERS)
