"""A Dataverse Web API simulator for tests (stdlib HTTP server on loopback).

Modules: ``odata`` (errors, query options), ``model`` (tables and Sales messages), ``api`` (what each
URL does, ``$batch``), ``limits`` (service protection, injected faults), ``server`` (HTTP, tokens,
lifecycle), ``client`` (a salesperson's client: qualify, disqualify, win, lose).
"""
from tests.dataverse_sim.client import SalesClient, SalesClientError
from tests.dataverse_sim.server import DEFAULT_PROSPECT_COLUMN, INTEGRATION_USER, DataverseSimulator, running_simulator

__all__ = ["DataverseSimulator", "running_simulator", "SalesClient", "SalesClientError", "DEFAULT_PROSPECT_COLUMN",
           "INTEGRATION_USER"]
