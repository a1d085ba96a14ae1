"""Beam options for a build: the local runner by default, and a portable job that may run longer
than Beam's 300-second job-server deadline."""

import socket

import pytest
from apache_beam.options.pipeline_options import PortableOptions, StandardOptions

from pipelines.build_dataset import DEFAULT_RUNNER, PORTABLE_JOB_TIMEOUT_S, pipeline_options


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
