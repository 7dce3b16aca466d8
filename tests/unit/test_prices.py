"""The price catalog: sourced and dated figures, verified only where checked, refresh from the Price List API."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from engines.errors import WorkbenchError
from engines.cost.prices import BUNDLED, load_catalog, refresh_prices, user_catalog_path

# Every figure in /work/shared/PRICES.md that the catalog ships as verified (id -> USD).
CHECKED = {
    "ec2/c7i.xlarge/on_demand": 0.1785, "ec2/c7i.2xlarge/on_demand": 0.357, "ec2/c6i.xlarge/on_demand": 0.170,
    "ec2/c7g.xlarge/on_demand": 0.145, "ec2/m7i.xlarge/on_demand": 0.2016, "ec2/g4dn.xlarge/on_demand": 0.526,
    "ec2/g5.xlarge/on_demand": 1.006, "ec2/g6.xlarge/on_demand": 0.8048, "ec2/p4d.24xlarge/on_demand": 21.957642,
    "ec2/p5.48xlarge/on_demand": 55.04, "ec2/inf2.xlarge/on_demand": 0.7582,
    "sagemaker_serverless/1024/compute": 0.00002, "sagemaker_serverless/2048/compute": 0.00004,
    "sagemaker_serverless/3072/compute": 0.00006, "sagemaker_serverless/4096/compute": 0.00008,
    "sagemaker_serverless/5120/compute": 0.0001, "sagemaker_serverless/6144/compute": 0.00012,
    "sagemaker_serverless/data_processed": 0.016, "sagemaker_realtime/ml.c5.xlarge/on_demand": 0.204,
}


def test_every_entry_has_source_text_and_date():
    cat = load_catalog()
    assert cat.origin == str(BUNDLED) and cat.as_of == "2026-07-20"
    for e in cat.entries.values():
        assert e.source in cat.sources and e.source_text and e.as_of, e.id


def test_verified_only_for_checked_figures():
    cat = load_catalog()
    verified = {e.id: e.usd for e in cat.entries.values() if e.verified and e.usd is not None}
    assert verified == pytest.approx(CHECKED)
    for unverified in ("sagemaker_realtime/ml.g5.xlarge/on_demand", "sagemaker_realtime/ml.m5.xlarge/on_demand",
                       "sagemaker_serverless/provisioned_concurrency", "lambda/x86_64/duration", "lambda/requests"):
        assert cat.get(unverified).label == "unverified"


def test_spot_is_derived_from_saving_and_labelled():
    cat = load_catalog()
    spot = cat.spot_hourly("c7i.xlarge")
    assert spot.label == "derived" and spot.usd == pytest.approx(0.1785 * (1 - 0.61))
    assert "2026-07-20" in spot.basis and "2025-06-28" in spot.basis
    assert cat.spot_hourly("ml.c5.xlarge") is None
    rows = [r for r in cat.rows() if r["service"] == "ec2 spot"]
    assert len(rows) == 11 and all(r["label"] == "derived" for r in rows)


def test_lookups_and_unknown_instance():
    cat = load_catalog()
    assert cat.hourly("ml.c5.xlarge").usd == 0.204 and cat.is_gpu("g4dn.xlarge") and not cat.is_gpu("c7i.xlarge")
    assert cat.serverless_rate(3072).usd == pytest.approx(0.00006)
    with pytest.raises(WorkbenchError, match="no price for instance 'x9.huge'"):
        cat.hourly("x9.huge")
    with pytest.raises(WorkbenchError, match="1024..6144"):
        cat.serverless_rate(1500)


def test_user_file_overrides_the_bundled_catalog():
    data = json.loads(BUNDLED.read_text())
    data["as_of"] = "2030-01-01"
    for e in data["entries"]:
        if e["id"] == "ec2/c7i.xlarge/on_demand":
            e["usd"] = 0.5
    user_catalog_path().write_text(json.dumps(data))
    cat = load_catalog()
    assert cat.as_of == "2030-01-01" and cat.hourly("c7i.xlarge").usd == 0.5


@pytest.mark.parametrize("mutate,msg", [
    (lambda d: d.pop("as_of"), "missing 'as_of'"),
    (lambda d: d["entries"][0].update(usd=-1), "bad price"),
    (lambda d: d["entries"][0].update(source="ZZ"), "unknown source"),
    (lambda d: d["entries"][0].pop("as_of"), "lacks as_of"),
    (lambda d: d["entries"].append(dict(d["entries"][0])), "duplicate"),
])
def test_invalid_user_catalog_is_refused_with_one_line(mutate, msg):
    data = json.loads(BUNDLED.read_text())
    mutate(data)
    user_catalog_path().write_text(json.dumps(data))
    with pytest.raises(WorkbenchError, match=msg) as info:
        load_catalog()
    assert "\n" not in str(info.value)


def test_malformed_json_catalog():
    user_catalog_path().write_text("{nope")
    with pytest.raises(WorkbenchError, match="unreadable"):
        load_catalog()


def _doc(price: str, **attrs) -> str:
    return json.dumps({"product": {"attributes": attrs}, "terms": {"OnDemand": {"SKU.TERM": {"priceDimensions": {
        "SKU.TERM.RATE": {"unit": "Hrs", "pricePerUnit": {"USD": price}}}}}}})


def test_refresh_with_a_real_pricing_client_and_stubbed_responses():
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    stub = Stubber(client)
    cat = load_catalog()
    for e in (e for e in cat.entries.values() if e.price_type == "on_demand"):
        if e.service == "ec2":
            docs = [_doc("0.1900000000", instanceType=e.item)] if e.item == "c7i.xlarge" else []
            fields = {"regionCode": "us-east-1", "instanceType": e.item, "operatingSystem": "Linux",
                      "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used",
                      "marketoption": "OnDemand", "productFamily": "Compute Instance"}
            code = "AmazonEC2"
        else:
            docs = ([_doc("0.1", component="Training"), _doc("0.2100000000", component="Hosting")]
                    if e.item == "ml.c5.xlarge" else [])
            fields = {"regionCode": "us-east-1", "instanceName": e.item, "productFamily": "ML Instance"}
            code = "AmazonSageMaker"
        stub.add_response("get_products", {"PriceList": docs, "FormatVersion": "aws_v1"},
                          {"ServiceCode": code, "MaxResults": 100,
                           "Filters": [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in fields.items()]})
    with stub:
        out = refresh_prices(client, "us-east-1")
    stub.assert_no_pending_responses()
    assert sorted(out["updated"]) == ["c7i.xlarge", "ml.c5.xlarge"] and out["written"]
    today = dt.date.today().isoformat()
    cat = load_catalog()  # the user file now
    assert cat.origin == str(user_catalog_path()) and cat.as_of == today
    e = cat.get("ec2/c7i.xlarge/on_demand")
    assert (e.usd, e.source, e.as_of, e.verified) == (0.19, "PL", today, True) and "was 0.1785" in e.note
    assert cat.hourly("ml.c5.xlarge").usd == 0.21
    assert cat.get("ec2/g5.xlarge/on_demand").as_of == "2026-07-20"  # not found: kept with its source


def test_refresh_errors_are_one_line():
    import boto3
    from botocore.stub import Stubber

    with pytest.raises(WorkbenchError, match="no AWS credentials"):
        refresh_prices(boto3.session.Session(region_name="us-east-1"))
    client = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    stub = Stubber(client)
    stub.add_client_error("get_products", "AccessDeniedException", "not allowed to read prices")
    with stub, pytest.raises(WorkbenchError, match="AccessDeniedException: not allowed") as info:
        refresh_prices(client)
    assert "\n" not in str(info.value)
    assert not user_catalog_path().exists()


def test_cli_prices_show_and_json(capsys):
    from workbench.cli import main

    assert main(["prices"]) == 0
    out = capsys.readouterr().out
    assert "as of 2026-07-20" in out and "unverified" in out and "derived" in out and "[K]" in out
    assert main(["prices", "--json", "--service", "sagemaker_serverless"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["as_of"] == "2026-07-20" and {r["service"] for r in doc["rows"]} == {"sagemaker_serverless"}
