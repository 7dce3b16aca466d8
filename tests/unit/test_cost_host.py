"""The instance a CPU benchmark is priced as follows the timed threads and this machine's CPU."""

from __future__ import annotations

from types import SimpleNamespace

from engines.cost.model import cpu_host, host_instance
from engines.cost.prices import load_catalog


def test_one_vcpu_per_timed_thread_and_the_cpu_named_as_detected():
    cat = load_catalog()
    inst, note = cpu_host(2, cat, arch="x86_64", cpu="AMD EPYC 9R14")
    assert inst == "c7i.xlarge"
    assert "2 thread(s)" in note and "AMD EPYC 9R14" in note and "2 vCPU(s) left idle" in note
    assert "different CPU (Intel Xeon" in note     # not claimed to be the same CPU
    inst, note = cpu_host(8, cat, arch="x86_64", cpu="Intel(R) Xeon(R) Platinum 8488C")
    assert inst == "c7i.2xlarge" and "different CPU" not in note and "idle" not in note


def test_more_threads_than_any_instance_is_labelled_an_estimate():
    inst, note = cpu_host(64, load_catalog(), arch="x86_64", cpu="AMD EPYC")
    assert inst == "c7i.2xlarge" and note.startswith("estimate:") and "64 threads" in note


def test_arm_machines_are_priced_as_arm_instances():
    inst, note = cpu_host(4, load_catalog(), arch="aarch64", cpu="Neoverse-V1")
    assert inst == "c7g.xlarge" and "Neoverse-V1" in note


def test_host_instance_uses_the_measured_threads_and_the_override_wins():
    cat = load_catalog()
    inst, replicas, note = host_instance(SimpleNamespace(device="cpu", threads=6), cat)
    assert inst == "c7i.2xlarge" and replicas == 1 and "6 thread(s)" in note
    assert host_instance(SimpleNamespace(device="cpu", threads=6), cat, "m7i.xlarge")[0] == "m7i.xlarge"
