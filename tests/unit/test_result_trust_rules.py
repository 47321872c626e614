"""Result references load only from storage, keys and serializers the reader trusts."""

from __future__ import annotations

import json
import pickle
import uuid
from pathlib import Path

import pytest
from result_support import plant as plant_file
from result_support import plant_pickle

from runplane import ResultRef, Settings, State, StateType, task
from runplane._runtime import result_trust as trust
from runplane._runtime.results import (
    LocalFileSystem,
    ResultStore,
    RunFailed,
    UntrustedResult,
    register_storage_scheme,
)


@pytest.fixture(autouse=True)
def reader_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A reader whose only trusted storage is its home's results folder."""
    home = tmp_path / "home"
    monkeypatch.setenv("RUNPLANE_HOME", str(home))
    monkeypatch.delenv("RUNPLANE_RESULTS_TRUSTED_STORAGE", raising=False)
    monkeypatch.delenv("RUNPLANE_RESULTS_ALLOW_PICKLE", raising=False)
    monkeypatch.setattr(trust, "_trusted_here", set())
    return home


def plant(folder: Path, key: str, data: bytes) -> ResultRef:
    return ResultRef(storage=plant_file(folder, key, data), key=key, serializer="")


def plant_code(folder: Path, key: str, marker: Path) -> ResultRef:
    return ResultRef(storage=plant_pickle(folder, key, marker), key=key, serializer="")


def completed(ref: ResultRef, serializer: str) -> State:
    return State(type=StateType.COMPLETED, result=ref.model_copy(update={"serializer": serializer}))


def test_a_pickle_in_untrusted_storage_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pickle-ran"
    ref = plant_code(tmp_path / "evil", "payload", marker)
    for serializer in ("cloudpickle", "pickle", ""):
        with pytest.raises(UntrustedResult) as refused:
            completed(ref, serializer).result()
        assert ref.storage in str(refused.value)
        assert "RUNPLANE_RESULTS_TRUSTED_STORAGE" in str(refused.value)
    assert not marker.exists()


def test_a_failed_state_with_an_untrusted_exception_reports_its_message_only(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "pickle-ran"
    ref = plant_code(tmp_path / "evil", "error", marker)
    state = State(type=StateType.FAILED, message="it broke", result=ref)
    with pytest.raises(RunFailed, match=r"it broke .*not trusted") as failed:
        state.result()
    assert isinstance(failed.value.__cause__, UntrustedResult)
    assert not marker.exists()


def test_json_from_untrusted_storage_is_refused_before_anything_is_opened() -> None:
    opened: list[str] = []

    class Spy:
        def __init__(self, location: str) -> None:
            opened.append(location)

    scheme = f"spy-{uuid.uuid4().hex[:8]}"
    register_storage_scheme(scheme, Spy)  # type: ignore[arg-type]
    ref = ResultRef(storage=f"{scheme}:bucket", key="data.json", serializer="json")
    with pytest.raises(UntrustedResult, match=f"'{scheme}:bucket' is not trusted"):
        completed(ref, "json").result()
    assert opened == []


@pytest.mark.parametrize(
    ("storage", "key"),
    [("local-file:/etc", "passwd"), ("local-file:{home}/results/../../..", "etc/passwd")],
)
def test_a_json_reference_cannot_read_the_readers_files(
    reader_home: Path, storage: str, key: str
) -> None:
    ref = ResultRef(storage=storage.format(home=reader_home), key=key, serializer="json")
    with pytest.raises(UntrustedResult, match="is not trusted"):
        completed(ref, "json").result()


@pytest.mark.parametrize("key", ["../secret.json", "/etc/passwd", "a/../../secret.json", "./x"])
def test_keys_that_leave_a_trusted_storage_are_refused(reader_home: Path, key: str) -> None:
    (reader_home / "results").mkdir(parents=True)
    (reader_home / "secret.json").write_text('"secret"')
    ref = ResultRef(storage=f"local-file:{reader_home / 'results'}", key=key, serializer="json")
    with pytest.raises(UntrustedResult, match="was not read"):
        completed(ref, "json").result()


def test_a_symlink_out_of_a_trusted_storage_is_refused(reader_home: Path, tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "data.json").write_text('"outside"')
    (reader_home / "results").mkdir(parents=True)
    (reader_home / "results" / "link").symlink_to(tmp_path / "outside")
    ref = ResultRef(
        storage=f"local-file:{reader_home / 'results'}", key="link/data.json", serializer="json"
    )
    with pytest.raises(UntrustedResult, match="outside the storage"):
        completed(ref, "json").result()


def test_the_home_results_folder_is_trusted_for_pickles(reader_home: Path) -> None:
    ref = plant(reader_home / "results", "value", pickle.dumps({"answer": {1, 2}}))
    assert completed(ref, "cloudpickle").result() == {"answer": {1, 2}}


def test_a_storage_named_in_the_setting_is_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    names = f"local-file:{tmp_path / 'other'}, local-file:{shared}/"
    monkeypatch.setenv("RUNPLANE_RESULTS_TRUSTED_STORAGE", names)
    ref = plant(shared, "value", pickle.dumps(("from", "elsewhere")))
    assert completed(ref, "cloudpickle").result() == ("from", "elsewhere")
    spelled_otherwise = ref.model_copy(update={"storage": f"local-file:{shared}/../shared"})
    assert completed(spelled_otherwise, "cloudpickle").result() == ("from", "elsewhere")


def test_a_storage_this_process_names_as_result_storage_is_trusted(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    ref = plant(mine, "value.json", json.dumps([1, 2]).encode())
    with pytest.raises(UntrustedResult):
        completed(ref, "json").result()

    @task(result_storage=LocalFileSystem(mine))
    def produce() -> list[int]:
        return [1, 2]

    assert completed(ref, "json").result() == [1, 2]


def test_a_storage_this_process_writes_to_is_trusted(tmp_path: Path) -> None:
    ref = ResultStore(LocalFileSystem(tmp_path / "written")).persist({"k": "v"})
    assert completed(ref, "cloudpickle").result() == {"k": "v"}


def test_with_pickle_off_only_json_is_loaded(
    reader_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNPLANE_RESULTS_ALLOW_PICKLE", "false")
    marker = reader_home / "pickle-ran"
    pickled = plant_code(reader_home / "results", "p", marker)
    with pytest.raises(UntrustedResult, match="RUNPLANE_RESULTS_ALLOW_PICKLE"):
        completed(pickled, "cloudpickle").result()
    assert not marker.exists()
    as_json = plant(reader_home / "results", "j", b'{"ok":true}')
    assert completed(as_json, "json").result() == {"ok": True}


def test_inline_json_needs_no_trust() -> None:
    ref = ResultRef(serializer="json", inline_value={"any": "client"})
    assert completed(ref, "json").result() == {"any": "client"}


def test_the_setting_reads_comma_separated_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNPLANE_RESULTS_TRUSTED_STORAGE", " local-file:/a ,s3:bucket,, ")
    assert Settings().results_trusted_storage == ["local-file:/a", "s3:bucket"]
    with pytest.raises(ValueError, match="'nowhere' must look like"):
        Settings(results_trusted_storage=["nowhere"])
