"""Right-sizing instance vCPUs and GPU against measured utilization (engines/cost/instance_fit.py)."""

from __future__ import annotations

import pytest

from engines.cost.instance_fit import Utilization, fit_for_target, fit_instance, utilization_from_metrics
from engines.cost.model import TrafficProfile
from engines.cost.prices import load_catalog


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def util(cpu_pct=50.0, cores=2, rate=1000.0, threads=2, gpu=None):
    return Utilization(rate, cpu_pct, cores, threads, gpu, "NVIDIA H200" if gpu is not None else None, "test run")


def test_oversized_cpu_instance_gets_a_smaller_fit_with_the_saving(catalog):
    # 2 busy cores at 1000/s; peak 60 req/s on one ml.c5.2xlarge -> 0.12 busy cores of 8 vCPU = 1.5 %
    fit = fit_instance("ml.c5.2xlarge", util(cpu_pct=100.0), catalog, TrafficProfile(10, 60))
    assert fit.status == "oversized" and fit.warning and fit.verified
    assert fit.cpu_use_pct == pytest.approx(100 * 2 * 0.06 / 8)
    assert fit.fit_instance == "ml.c5.large" and fit.fit_vcpus == 2
    hourly = catalog.hourly("ml.c5.2xlarge").usd - catalog.hourly("ml.c5.large").usd
    assert fit.saving_month == pytest.approx(hourly * 24 * 30)
    assert fit.line.startswith("ml.c5.2xlarge (8 vCPU) at 1.5 % measured CPU use at peak: ml.c5.large (2 vCPU) "
                               "fits, saves $")


def test_busy_instance_is_not_shrunk(catalog):
    # peak at the measured rate keeps the 4 busy cores of 4 vCPUs busy
    fit = fit_instance("ml.c5.xlarge", util(cpu_pct=100.0, cores=4, threads=4), catalog, TrafficProfile(900, 1000))
    assert fit.status == "busy" and fit.fit_instance is None and "little headroom" in fit.line
    assert fit.cpu_use_pct == pytest.approx(100.0)


def test_fit_keeps_headroom_and_counts_instances_for_the_peak(catalog):
    # peak 3000 req/s at 1000/s per instance -> 3 instances, each 1 of its 2 busy cores... at full load
    fit = fit_instance("ml.c5.2xlarge", util(cpu_pct=100.0), catalog, TrafficProfile(1000, 3000))
    assert fit.count == 3
    # 2 busy cores / 0.7 -> needs 3 vCPUs: ml.c5.xlarge (4) is the smaller fit, ml.c5.large (2) is not
    assert fit.fit_instance == "ml.c5.xlarge"


def test_no_utilization_measured_says_so_and_claims_no_fit(catalog):
    fit = fit_instance("ml.c5.2xlarge", None, catalog, TrafficProfile(5, 50))
    assert fit.status == "unmeasured" and not fit.warning and fit.fit_instance is None
    assert fit.saving_month is None and "no CPU use measured" in fit.line and "workbench cost" in fit.line
    no_cpu = fit_instance("ml.c5.2xlarge", util(cpu_pct=None), catalog, TrafficProfile(5, 50))
    assert no_cpu.status == "unmeasured" and no_cpu.fit_instance is None


def test_gpu_instance_without_a_gpu_measurement_is_unverified(catalog):
    fit = fit_instance("ml.g5.xlarge", util(gpu=None), catalog, TrafficProfile(5, 50))
    assert fit.status == "unverified" and not fit.verified and fit.fit_instance is None
    assert "unverified" in fit.line and "no GPU utilization measured" in fit.line


def test_gpu_instance_with_nvml_sample_reports_gpu_use(catalog):
    fit = fit_instance("g5.xlarge", util(gpu=80.0, rate=2000.0), catalog, TrafficProfile(50, 100))
    assert fit.verified and fit.gpu_use_pct == pytest.approx(80.0 * 100 / 2000)
    assert fit.status == "oversized" and "measured GPU use at peak" in fit.line
    busy = fit_instance("g5.xlarge", util(gpu=80.0, rate=2000.0), catalog, TrafficProfile(1500, 2000))
    assert busy.status == "fits" and busy.gpu_use_pct == pytest.approx(80.0)


def test_no_smaller_instance_in_the_catalog_says_fits(catalog):
    fit = fit_instance("ml.c5.large", util(cpu_pct=10.0), catalog, TrafficProfile(1, 5))
    assert fit.status == "fits" and fit.fit_instance is None
    assert "no smaller CPU instance is priced in the catalog" in fit.line


def test_utilization_from_stored_metrics_and_missing_samples():
    metrics = {"latency_ms": {"mean": 0.5}, "latency_batch": 1, "threads": 2,
               "throughput": {"batch": 32, "ips": 9000.0, "run_metrics": {"samples": 4, "cpu_mean": 90.0, "cores": 2}},
               "run_metrics": {"samples": 6, "cpu_mean": 60.0, "cores": 2, "gpu_util_mean": None}}
    one = utilization_from_metrics(metrics, batch1=True)
    assert one.rate_ips == pytest.approx(2000.0) and one.busy_cores == pytest.approx(1.2)
    tp = utilization_from_metrics(metrics, batch1=False)
    assert tp.rate_ips == 9000.0 and tp.busy_cores == pytest.approx(1.8) and "batch-32" in tp.source
    assert utilization_from_metrics({"latency_ms": {"mean": 0.5}, "run_metrics": {"samples": 0}}) is None
    assert utilization_from_metrics({}) is None


def test_instance_not_in_catalog(catalog):
    class T:
        metrics = {}

    fit = fit_for_target(T(), None, "ml.c9.huge", catalog, TrafficProfile(1, 1))
    assert fit.status == "unmeasured" and "not in the price catalog" in fit.line
