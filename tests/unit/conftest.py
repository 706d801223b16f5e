from __future__ import annotations

import copy

import pytest

MINIMAL_BODY = {
    "company": {
        "name": "Contoso AB",
        "phone": "+46 8 555 000 00",
        "address": {"street": "Storgatan 1", "city": "Uppsala", "zip_code": "753 10", "country": "SE"},
    },
    "contact": {"first_name": "Anna", "last_name": "Svensson", "email": "anna@example.com", "phone": "070-123 45 67"},
    "channel_id": "b2b-web",
}

FULL_BODY = {
    "company": {
        "name": "Contoso Söner & Döttrar AB",
        "registration_number": "556000-0000",
        "vat_number": "SE556000000001",
        "phone": "+46 (0)8 555 000 00",
        "address": {"street": "Storgatan 1", "city": "Uppsala", "zip_code": "753 10", "country": "se",
                    "state": "Uppsala län"},
    },
    "contact": {"first_name": "Åsa", "last_name": "Öberg", "email": "Asa.Oberg@Example.COM",
                "phone": "+46 70 123 45 67", "preferred_language": "sv-se"},
    "comments": "Please call me.\nBest regards",
    "channel_id": "b2b-web.se_1",
}


@pytest.fixture
def minimal_body() -> dict:
    return copy.deepcopy(MINIMAL_BODY)


@pytest.fixture
def full_body() -> dict:
    return copy.deepcopy(FULL_BODY)
