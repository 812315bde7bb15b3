"""Operating newsflow: the project config, the run lock, the run report, Parquet copies to an fsspec URL."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from config.project import ConfigError, load_config
from config.settings import resolve_settings, settings_from_json, settings_to_json
from tests.conftest import ROOT, newsflow
from transforms.runs import run_report
from warehouse.lock import WarehouseBusy, holder, is_locked, run_lock
from warehouse.store import Warehouse


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "newsflow.toml"
    path.write_text(text)
    return path


def test_config_paths_are_relative_to_the_file_and_layer_under_env_and_flags(tmp_path):
    config = load_config(_write(tmp_path, """
[run]
sources = ["feeds", "https://example.org/rss"]
warehouse = "wh"
if_running = "skip"
nlp_batch_size = 16
[schedule]
name = "every-15"
cron = "*/15 * * * *"
"""))
    assert config.run["inputs"] == (str(tmp_path / "feeds"), "https://example.org/rss")
    assert config.run["warehouse"] == tmp_path / "wh"
    settings = resolve_settings(env={"NEWSFLOW_NLP_BATCH_SIZE": "8"}, config=config.run, if_running="wait")
    assert (settings.warehouse, settings.nlp_batch_size, settings.if_running) == (tmp_path / "wh", 8, "wait")
    assert settings.inputs == config.run["inputs"]
    after = datetime(2026, 1, 1, 10, 7, tzinfo=timezone.utc)
    assert config.schedule.next_runs(after, 2) == [datetime(2026, 1, 1, 10, 15, tzinfo=timezone.utc),
                                                   datetime(2026, 1, 1, 10, 30, tzinfo=timezone.utc)]


def test_a_schedule_in_another_time_zone_fires_at_its_local_time(tmp_path):
    config = load_config(_write(tmp_path, '[schedule]\ncron = "0 6 * * *"\ntimezone = "Europe/Berlin"\n'))
    assert config.schedule.next_runs(datetime(2026, 7, 1, tzinfo=timezone.utc), 1) == [
        datetime(2026, 7, 1, 4, 0, tzinfo=timezone.utc)]  # 06:00 CEST


@pytest.mark.parametrize("text, message", [
    ('[run]\nsourcez = ["x"]\n', r"unknown key \[run\].sourcez; known keys: actors, .*sources"),
    ('[run]\ninputs = ["x"]\n', r"unknown key \[run\].inputs"),
    ('[run]\nsources = "seeds"\n', r"\[run\].sources must be a list of strings"),
    ('[run]\nnlp_batch_size = "big"\n', r"\[run\].nlp_batch_size must be a int"),
    ('[run]\nif_running = "queue"\n', r"if_running must be \"wait\" or \"skip\""),
    ('[schedule]\ncron = "every hour"\n', r"\[schedule\].cron 'every hour' is not a cron expression"),
    ('[schedule]\ncron = "0 * * * *"\ntimezone = "Mars/Olympus"\n', r"'Mars/Olympus' is not a time zone name"),
    ('[schedules]\ncron = "0 * * * *"\n', r"unknown section\(s\) schedules"),
    ('[run\n', r"is not valid TOML"),
])
def test_config_mistakes_name_the_file_and_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, text))


def test_the_shipped_config_runs_the_seeds_hourly():
    config = load_config(ROOT / "newsflow.toml")
    assert config.run["inputs"] == (str(ROOT / "seeds"),)
    assert config.run["warehouse"] == ROOT / "warehouse"
    assert (config.schedule.name, config.schedule.cron, config.schedule.timezone) == ("newsflow-hourly", "0 * * * *", "UTC")


def test_settings_survive_the_json_a_deployment_stores():
    settings = resolve_settings(env={}, inputs=["a", "https://x.org/feed"], actor_dictionaries=["d.tsv"],
                                warehouse=Path("/tmp/w"), if_running="skip")
    assert settings_from_json(settings_to_json(settings)) == settings
    with pytest.raises(ValueError, match="unknown settings: nope"):
        settings_from_json({"nope": 1})


def test_serve_and_deploy_need_a_config_with_a_schedule(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = newsflow("serve")
    assert missing.exit_code == 2 and "no newsflow.toml here; pass --config FILE" in missing.output
    _write(tmp_path, '[run]\nsources = ["seeds"]\n')
    unscheduled = newsflow("deploy")
    assert unscheduled.exit_code == 2 and "has no [schedule] cron" in unscheduled.output
    bad = newsflow("run", "--config", str(_write(tmp_path, "[run]\nwarehous = 'x'\n")))
    assert bad.exit_code == 2 and "unknown key [run].warehous" in bad.output


def test_run_report_is_a_markdown_table_of_counts_and_failed_expectations():
    steps = {"records": {"in": 3, "out": 2, "quarantined": 1},
             "articles": {"in": 2, "out": 1, "unchanged": 1, "quarantined": 0}}
    failed = [{"table_name": "articles", "expectation": "expect_column_values_to_not_be_null",
               "column_name": "title", "unexpected_count": 1}]
    report = run_report("completed", "/w", steps, failed)
    assert "| step | in | out | unchanged | quarantined |" in report
    assert "| records | 3 | 2 |  | 1 |" in report
    assert "| articles | 2 | 1 | 1 | 0 |" in report
    assert "## Failed expectations: 1" in report
    assert "| articles | expect_column_values_to_not_be_null | title | 1 |" in report
    assert "Every expectation passed." in run_report("completed", "/w", steps, [])
    skipped = run_report("skipped", "/w", {}, [], "run r1 (pid 1 on h, since t) held the warehouse")
    assert "skipped" in skipped and "run r1" in skipped


def test_a_second_run_skips_or_waits_while_the_warehouse_is_held(tmp_path):
    with run_lock(tmp_path, "first") as other:
        assert other is None and is_locked(tmp_path)
        assert holder(tmp_path).run_id == "first"
        with run_lock(tmp_path, "second", if_running="skip") as other:
            assert other.run_id == "first"
        with pytest.raises(WarehouseBusy, match="gave up after waiting 0.2 s: run first"):
            with run_lock(tmp_path, "third", if_running="wait", wait_timeout=0.2):
                pass
    assert not is_locked(tmp_path) and holder(tmp_path) is None


def test_a_waiting_run_goes_on_when_the_holder_finishes(tmp_path):
    order = []
    held = threading.Event()

    def first():
        with run_lock(tmp_path, "first"):
            held.set()
            time.sleep(0.5)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    held.wait(10)
    with run_lock(tmp_path, "second", if_running="wait", wait_timeout=30) as other:
        assert other is None
        order.append("second holds")
    thread.join()
    assert order == ["first done", "second holds"]


def test_a_run_records_its_summary_as_a_prefect_artifact_and_in_runs(seeded):
    import json

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from warehouse.store import Warehouse

    warehouse, _ = seeded
    run_id, counts = Warehouse(warehouse).query("SELECT run_id, counts FROM runs").row(0)
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["newsflow-run-summary"])))
    mine = [a for a in artifacts if str(a.flow_run_id) == run_id]
    assert len(mine) == 1 and mine[0].type == "markdown"
    steps = json.loads(counts)["steps"]
    assert steps["articles"] == {"in": 1, "out": 1, "unchanged": 0, "quarantined": 0}
    events = steps["events"]
    assert f"| events | {events['in']} | {events['out']} |  | {events['quarantined']} |" in mine[0].data
    assert "## Failed expectations: 0" in mine[0].data


@pytest.mark.slow
def test_each_run_sends_the_rows_it_changed_to_an_fsspec_url(prefect_server, tmp_path):
    target = tmp_path / "bucket"
    result = newsflow("run", str(ROOT / "seeds"), "--warehouse", str(tmp_path / "wh"),
                      "--export-url", target.as_uri() + "/newsflow")
    assert result.exit_code == 0, result.output
    store = Warehouse(tmp_path / "wh")
    (run_id,) = store.query("SELECT run_id FROM runs")["run_id"]
    for table in ("articles", "entities", "events", "runs"):
        sent = pq.read_table(target / "newsflow" / table / f"{run_id}.parquet")
        assert set(sent.column("change_type").to_pylist()) == {"upsert"}
        assert sent.num_rows == store.query(f"SELECT count(*) FROM {table}").item()
    # a second run over the same input finds nothing new: it changes nothing, so it sends nothing
    sent = sorted(p.relative_to(target) for p in target.rglob("*"))
    again = newsflow("run", str(ROOT / "seeds"), "--warehouse", str(tmp_path / "wh"),
                     "--export-url", target.as_uri() + "/newsflow")
    assert again.exit_code == 0, again.output
    assert "nothing new: 1 article unchanged" in again.stdout
    assert store.history()["run_id"].to_list() == [run_id]
    assert sorted(p.relative_to(target) for p in target.rglob("*")) == sent
