"""Progress lines: one global count per stage across worker processes, totals that are unknown
or declared at run time, and the per-process fallback where no shared folder is reachable."""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import re
import time

import pytest

from pipelines.progress import Progress, Total, tracking

LINE = re.compile(r"(?P<label>[^:]+): (?P<done>\d+)/(?P<total>\d+) \((?P<pct>\d+)%\)")


def _work(progress: Progress, items: int, log_path: str) -> None:
    """A worker process: logs to a file shared with the other worker, updates one item at a time."""
    handler = logging.FileHandler(log_path)
    handler.setFormatter(logging.Formatter("%(process)d %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger("pipelines").setLevel(logging.INFO)
    for _ in range(items):
        progress.update(1, failed=0)
        time.sleep(0.002)


def _run_workers(progress: Progress, items: int, log_path, workers: int = 2) -> list[str]:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_work, args=(progress, items, str(log_path))) for _ in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return log_path.read_text().splitlines()


@pytest.mark.timeout(120)
def test_two_processes_count_one_global_total_that_never_goes_backwards(tmp_path):
    with tracking(folder=str(tmp_path)):
        progress = Progress("LLM generate", 200, interval_s=0.0)  # every update reports
        lines = _run_workers(progress, 100, tmp_path / "progress.log")
    parsed = [LINE.search(line) for line in lines]
    assert all(parsed), lines
    assert {m["total"] for m in parsed} == {"200"}
    done = [int(m["done"]) for m in parsed]
    pct = [int(m["pct"]) for m in parsed]
    assert done == sorted(done) and pct == sorted(pct), "progress went backwards"
    # Each process did 100: a line above 100 is the sum of both, and the last one is the total.
    assert max(done) == 200 and any(d > 100 for d in done[:-1])
    assert [line for line in lines if "(100%)" in line] == [lines[-1]]
    assert "200/200 (100%)" in lines[-1] and "done in" in lines[-1]
    assert len({line.split()[0] for line in lines}) == 2, "both processes report (whoever updates)"


@pytest.mark.timeout(120)
def test_the_interval_holds_for_the_whole_stage_not_per_process(tmp_path):
    with tracking(folder=str(tmp_path)):
        progress = Progress("embed personas", 100, interval_s=3600)
        lines = _run_workers(progress, 50, tmp_path / "progress.log")
    # the first update of the stage, then nothing until the final line
    assert len(lines) == 2, lines
    assert "100/100 (100%)" in lines[-1]


def test_handlers_built_for_one_stage_share_its_count_and_a_new_run_starts_over(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pipelines.progress")
    with tracking(folder=str(tmp_path)):
        pilot, rest = Progress("LLM generate", 200), Progress("LLM generate", 200)  # two exemplar iterations
        pickle.loads(pickle.dumps(pilot)).update(20)
        pickle.loads(pickle.dumps(rest)).update(180)
        assert "LLM generate: 200/200 (100%)" in caplog.text
        again = Progress("LLM generate", 200)  # the next run built in this process
        again.update(10)
        assert again.line().startswith("LLM generate: 10/200 (5%)")
        # without a total, only when asked to (LLM stages); else each is its own (an embedding per round)
        revise = [Progress("LLM revise", join=True), Progress("LLM revise", join=True)]
        embed = [Progress("embed personas"), Progress("embed personas")]
        for p in revise + embed:
            p.update(2)
        assert revise[0].line().startswith("LLM revise: 4 done (total unknown)")
        assert embed[0].line().startswith("embed personas: 2 done (total unknown)")


def test_an_unknown_total_is_said_not_guessed(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pipelines.progress")
    with tracking(folder=str(tmp_path)):
        revise = Progress("LLM revise")
        revise.update(3, failed=1)
        assert re.match(r"LLM revise: 3 done \(total unknown\), 1 failed$", revise.line())
        assert "%" not in caplog.text
        embed = Progress("embed personas", at_most=50)
        embed.update(7)
        assert embed.line().startswith("embed personas: 7 done (at most 50)")
        pickle.loads(pickle.dumps(embed)).finish(40)  # Beam's count of the stage's output, elsewhere
        assert "embed personas: 40/40 (100%)" in caplog.text
        caplog.clear()
    # leaving the run: a closing line for the stage that never knew its total
    assert "LLM revise: 3/3 (100%)" in caplog.text
    assert "embed personas" not in caplog.text  # it had its final line already


def test_a_total_declared_while_the_pipeline_runs(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pipelines.progress")
    with tracking(folder=str(tmp_path)):
        turns = Total("dialogue turns")
        progress = Progress("LLM dialogue_generate", turns)
        worker = pickle.loads(pickle.dumps(progress))
        worker.update(4)
        assert worker.line().startswith("LLM dialogue_generate [dialogue turns]: 4 done (total not known yet)")
        pickle.loads(pickle.dumps(turns)).add(12)  # the pairing step, in another copy
        worker.update(4)
        assert worker.line().startswith("LLM dialogue_generate [dialogue turns]: 8/12 (66%)")
        worker.update(4)
        assert "LLM dialogue_generate [dialogue turns]: 12/12 (100%)" in caplog.text


def test_without_the_shared_folder_each_worker_reports_its_own_share_labelled_as_such(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pipelines.progress")
    with tracking(folder=str(tmp_path)):
        shipped = pickle.dumps(Progress("LLM generate", 200))
    # a worker on another machine: the launcher's folder is not there
    remote = pickle.loads(shipped)
    remote.update(37)
    line = remote.line()
    assert re.match(r"worker \d+: LLM generate: 37 done \(by this process; no shared progress folder", line)
    assert "%" not in line and "%" not in caplog.text
    assert re.search(r"worker \d+: LLM generate: 37 done .*; run total 200\)", caplog.text)


def test_skipped_items_leave_the_total_so_the_stage_still_finishes(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pipelines.progress")
    with tracking(folder=str(tmp_path)):
        turns = Total("dialogue turns")
        progress = Progress("LLM dialogue_generate", turns, interval_s=0.0)
        turns.add(12)  # 3 dialogues x 4 turns
        progress.update(9, failed=1)  # one dialogue failed at its first turn...
        progress.skip(3)  # ...so its 3 later turns are never asked
        assert progress.line().startswith("LLM dialogue_generate [dialogue turns]: 9/9 (100%)")
    assert "9/9 (100%)" in caplog.text.splitlines()[-1]
