"""Beam options for a build: the local runner by default, and a portable job that may run longer
than Beam's 300-second job-server deadline."""

import os
import socket

import pytest
from apache_beam.options.pipeline_options import PortableOptions, StandardOptions

from pipelines.build_dataset import DEFAULT_RUNNER, PORTABLE_JOB_TIMEOUT_S, pipeline_options
from pipelines.common.embedding import THREADS_ENV, shared_cores


def test_the_local_runner_is_the_default():
    assert pipeline_options([]).view_as(StandardOptions).runner == DEFAULT_RUNNER


@pytest.fixture
def job_service_port():
    with socket.socket() as s:  # a listening socket stands in for the job service
        s.bind(("localhost", 0))
        s.listen()
        yield s.getsockname()[1]


def test_a_portable_job_gets_a_long_deadline_unless_one_is_given(job_service_port):
    options = pipeline_options(["--runner=PortableRunner", f"--job_endpoint=localhost:{job_service_port}"])
    assert options.view_as(StandardOptions).runner == "PortableRunner"
    assert options.view_as(PortableOptions).job_server_timeout == PORTABLE_JOB_TIMEOUT_S > 300
    given = pipeline_options(["--runner=PortableRunner", "--job_server_timeout=120"])
    assert given.view_as(PortableOptions).job_server_timeout == 120


def test_a_job_service_that_does_not_answer_fails_at_once():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(ConnectionError, match=f"--job_endpoint=localhost:{port} does not answer"):
            pipeline_options(["--runner=PortableRunner", f"--job_endpoint=localhost:{port}"])


def test_multi_process_direct_workers_share_the_cores_for_embeddings_during_the_run(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    with shared_cores(True, 4):
        assert os.environ[THREADS_ENV] == "2"  # the workers the runner starts inherit it
    assert THREADS_ENV not in os.environ
    with shared_cores(False, 1):  # one in-process worker: torch's default
        assert THREADS_ENV not in os.environ
    monkeypatch.setenv(THREADS_ENV, "3")  # the user's choice stands
    with shared_cores(True, 4):
        assert os.environ[THREADS_ENV] == "3"
