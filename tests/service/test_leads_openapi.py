"""The OpenAPI schema lists the leads routes and documents every field."""

from __future__ import annotations

import pytest

DOCUMENTED_SCHEMAS = (
    "LeadSummary",
    "LeadList",
    "LeadDetail",
    "Reason",
    "StageChange",
    "ScoreSnapshot",
    "LeadEvent",
    "Account",
    "ModelVersionRef",
    "StageCounts",
    "StageCount",
    "GradeCount",
    "Erasure",
    "ErrorDetail",
)


@pytest.fixture()
def schema(client) -> dict:
    response = client.get("/openapi.json", headers={"Authorization": ""})
    assert response.status_code == 200
    return response.json()


def test_openapi_lists_routes(schema):
    paths = schema["paths"]
    assert set(paths["/api/leads"]) == {"get"}
    assert set(paths["/api/leads/{lead_id}"]) == {"get", "delete"}
    assert set(paths["/api/stages"]) == {"get"}


def test_openapi_list_parameters(schema):
    parameters = schema["paths"]["/api/leads"]["get"]["parameters"]
    names = [parameter["name"] for parameter in parameters]
    assert names == [
        "stage",
        "grade",
        "min_score",
        "max_score",
        "updated_since",
        "q",
        "sort",
        "order",
        "limit",
        "cursor",
        "count",
    ]
    for parameter in parameters:
        assert parameter.get("description"), parameter["name"]


@pytest.mark.parametrize("name", DOCUMENTED_SCHEMAS)
def test_openapi_fields_described(schema, name):
    properties = schema["components"]["schemas"][name]["properties"]
    assert properties
    for field, spec in properties.items():
        if field == "error":
            continue
        assert spec.get("description"), f"{name}.{field}"


@pytest.mark.parametrize("name", ["StageChange", "ScoreSnapshot"])
def test_openapi_history_probability(schema, name):
    spec = schema["components"]["schemas"][name]["properties"]["probability"]
    assert {"type": "number"} in spec["anyOf"]
    assert {"type": "null"} in spec["anyOf"]
    assert "probability" not in schema["components"]["schemas"][name].get("required", [])


def test_openapi_time_fields(schema):
    properties = schema["components"]["schemas"]["LeadSummary"]["properties"]
    assert properties["updated_at"]["format"] == "date-time"


def test_openapi_key_schemes(schema):
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "basic"}
    operation = schema["paths"]["/api/stages"]["get"]
    assert operation["security"] == [{"bearer": []}, {"basic": []}]
    assert set(operation["responses"]) == {"200", "401", "403"}


def test_every_operation_names_its_key_scheme(schema):
    unsecured = [
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if not operation.get("security")
    ]
    assert unsecured == []
    assert schema["paths"]["/v1/batch"]["post"]["security"] == [{"bearer": []}, {"basic": []}]
    assert schema["paths"]["/api/webhooks/{webhook_id}"]["delete"]["security"] == [{"bearer": []}, {"basic": []}]
