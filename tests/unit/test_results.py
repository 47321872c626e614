"""Results: storage, serializers, references and reading values back from states."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from runplane import ResultRef, Settings, State, StateType
from runplane._runtime.results import (
    JSONSerializer,
    LocalFileSystem,
    MissingResult,
    PickleSerializer,
    ResultStorage,
    ResultStore,
    RunFailed,
    SerializationError,
    default_result_store,
    inline_ref,
    load_result,
    register_storage_scheme,
    resolve_serializer,
    resolve_storage,
)


class Unpicklable:
    def __init__(self) -> None:
        self.lock = threading.Lock()


def test_values_round_trip_through_local_files(tmp_path: Path) -> None:
    store = ResultStore(LocalFileSystem(tmp_path), "cloudpickle")
    value = {"rows": [1, 2, 3], "fn": (lambda x: x + 1)}
    ref = store.persist(value)
    assert ref.storage == f"local-file:{tmp_path.resolve()}"
    assert ref.serializer == "cloudpickle"
    assert (tmp_path / ref.key).is_file()
    loaded = store.load(ref)
    assert loaded["rows"] == [1, 2, 3]
    assert loaded["fn"](1) == 2


def test_a_reference_is_readable_by_a_fresh_store(tmp_path: Path) -> None:
    ref = ResultStore(LocalFileSystem(tmp_path), "json").persist([1, "two"], key="a/b/c.json")
    other = ResultStore(LocalFileSystem(tmp_path / "elsewhere"))
    assert other.load(ref) == [1, "two"]
    assert resolve_storage(ref.storage).read("a/b/c.json") == b'[1,"two"]'


def test_an_unserializable_value_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    store = ResultStore(LocalFileSystem(tmp_path))
    with pytest.raises(SerializationError, match=r"test_results\.Unpicklable"):
        store.persist(Unpicklable(), key="never")
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize(
    "key", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a\\b", "a/", "nul\x00"]
)
def test_keys_that_could_escape_are_refused(tmp_path: Path, key: str) -> None:
    storage = LocalFileSystem(tmp_path / "results")
    with pytest.raises(ValueError, match="invalid result key"):
        storage.write(key, b"x")
    assert not (tmp_path / "x").exists()


def test_a_symlink_out_of_the_storage_is_refused(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "out").symlink_to(tmp_path)
    storage = LocalFileSystem(tmp_path / "results")
    with pytest.raises(ValueError, match="outside the storage"):
        storage.write("out/secret", b"x")


def test_writes_replace_atomically_and_leave_no_temp_files(tmp_path: Path) -> None:
    storage = LocalFileSystem(tmp_path)
    storage.write("k", b"first")
    storage.write("k", b"second")
    assert storage.read("k") == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["k"]
    assert storage.exists("k")
    assert not storage.exists("other")


def test_reading_a_missing_key_says_so(tmp_path: Path) -> None:
    with pytest.raises(MissingResult, match="'gone'"):
        LocalFileSystem(tmp_path).read("gone")


@pytest.mark.parametrize(
    ("value", "type_name"),
    [({1, 2}, "set"), (b"raw", "bytes"), (float("nan"), "float"), (Path("/x"), "PosixPath")],
)
def test_json_serializer_refuses_non_native_values(value: Any, type_name: str) -> None:
    with pytest.raises(SerializationError, match=f"type {type_name}") as caught:
        JSONSerializer().dumps(value)
    assert "as JSON" in str(caught.value)


def test_json_serializer_round_trips_native_values() -> None:
    value = {"a": [1, 2.5, None, True], "b": {"c": "d"}}
    serializer = JSONSerializer()
    assert serializer.loads(serializer.dumps(value)) == value
    assert serializer.loads(serializer.dumps((1, 2))) == [1, 2]


def test_corrupt_data_is_a_serialization_error() -> None:
    with pytest.raises(SerializationError, match="JSON"):
        JSONSerializer().loads(b"{nope")
    with pytest.raises(SerializationError, match="cloudpickle"):
        PickleSerializer().loads(b"not a pickle")


def test_serializers_and_storages_resolve_by_name(tmp_path: Path) -> None:
    assert resolve_serializer("json").name == "json"
    assert resolve_serializer("pickle").name == "cloudpickle"
    custom = JSONSerializer()
    assert resolve_serializer(custom) is custom
    with pytest.raises(ValueError, match="unknown result serializer 'yaml'"):
        resolve_serializer("yaml")
    with pytest.raises(ValueError, match="unknown result storage scheme 's4'"):
        resolve_storage("s4:bucket")
    with pytest.raises(ValueError, match="must look like"):
        resolve_storage("no-scheme")
    assert isinstance(resolve_storage(LocalFileSystem(tmp_path).name), ResultStorage)


class MemoryStorage:
    def __init__(self, location: str) -> None:
        self.location = location
        self.blobs: dict[str, bytes] = {}

    @property
    def name(self) -> str:
        return f"memory:{self.location}"

    def write(self, key: str, data: bytes) -> None:
        self.blobs[key] = data

    def read(self, key: str) -> bytes:
        return self.blobs[key]

    def exists(self, key: str) -> bool:
        return key in self.blobs


def test_other_storages_plug_in_by_scheme() -> None:
    opened: list[MemoryStorage] = []

    def open_memory(location: str) -> MemoryStorage:
        opened.append(MemoryStorage(location))
        return opened[-1]

    register_storage_scheme("memory", open_memory)
    storage = resolve_storage("memory:bucket-1")
    assert isinstance(storage, MemoryStorage)
    assert opened[0].location == "bucket-1"


def test_default_store_lives_under_the_home(tmp_path: Path) -> None:
    store = default_result_store(Settings(home=tmp_path))
    assert store.serializer.name == "cloudpickle"
    ref = store.persist(42)
    assert (tmp_path / "results" / ref.key).is_file()


def completed(ref: ResultRef | None) -> State:
    return State(type=StateType.COMPLETED, result=ref)


def test_state_result_reads_a_persisted_value(tmp_path: Path) -> None:
    ref = ResultStore(LocalFileSystem(tmp_path)).persist({"answer": 42})
    assert completed(ref).result() == {"answer": 42}
    assert load_result(completed(ref)) == {"answer": 42}


def test_inline_values_need_no_storage() -> None:
    assert completed(inline_ref([1, 2])).result() == [1, 2]
    assert completed(inline_ref(None)).result() is None
    with pytest.raises(SerializationError, match="set"):
        inline_ref({1})


def test_a_completed_state_without_a_result_is_missing() -> None:
    with pytest.raises(MissingResult, match="persist_result=True"):
        completed(None).result()


def test_an_unfinished_state_has_no_result() -> None:
    with pytest.raises(MissingResult, match="Running"):
        State(type=StateType.RUNNING).result()


def test_a_failed_state_raises_its_stored_exception(tmp_path: Path) -> None:
    ref = ResultStore(LocalFileSystem(tmp_path), "json").persist_exception(KeyError("k"))
    assert ref.serializer == "cloudpickle"
    state = State(type=StateType.FAILED, message="boom", result=ref)
    with pytest.raises(KeyError, match="'k'"):
        state.result()
    returned = state.result(raise_on_failure=False)
    assert isinstance(returned, KeyError)


def test_an_unpicklable_exception_is_stored_as_its_text(tmp_path: Path) -> None:
    class Stubborn(Exception):
        def __init__(self) -> None:
            super().__init__("cannot travel")
            self.lock = threading.Lock()

    ref = ResultStore(LocalFileSystem(tmp_path)).persist_exception(Stubborn())
    with pytest.raises(RunFailed, match="Stubborn: cannot travel"):
        State(type=StateType.FAILED, result=ref).result()


@pytest.mark.parametrize("kind", [StateType.FAILED, StateType.CRASHED, StateType.CANCELLED])
def test_a_failure_without_an_exception_raises_run_failed(kind: StateType) -> None:
    with pytest.raises(RunFailed, match="worker vanished"):
        State(type=kind, message="worker vanished").result()


def test_a_failure_whose_exception_file_is_gone_still_reports_the_message(tmp_path: Path) -> None:
    ref = ResultRef(storage=LocalFileSystem(tmp_path).name, key="gone", serializer="cloudpickle")
    with pytest.raises(RunFailed, match=r"disk died .*could not be read"):
        State(type=StateType.CRASHED, message="disk died", result=ref).result()
