"""Presentation for HTTP clients that is not one route's own answer: the OpenAPI document and its docs page.

Never imports azure.functions: functions/ adapts these to HTTP responses."""
