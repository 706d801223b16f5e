"""A local Functions host for this app, for machines without Azure Functions Core Tools.

It indexes ``function_app.py`` the way the Python worker does and runs its HTTP, timer and queue
triggers with host.json's settings: ``python -m devhost`` or ``devhost.host.LocalHost``.
"""
