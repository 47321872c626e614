"""``result_storage_key`` templates are checked when the task is made, and name the option."""

from __future__ import annotations

import pytest

from runplane import task
from runplane._engine.storage_keys import ResultStorageKeyError, check_storage_key


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("{parameters[x]", "is not a format string"),
        ("{x}.json", "names {x}: a key may use parameters, flow_run, task_run"),
        ("", "must be a non-empty string"),
    ],
)
def test_a_bad_template_is_refused_naming_the_option(template: str, why: str) -> None:
    with pytest.raises(ResultStorageKeyError) as raised:
        task(result_storage_key=template)(lambda: 1)
    assert str(raised.value).startswith("result_storage_key")
    assert why in str(raised.value)


def test_templates_over_the_run_are_taken() -> None:
    template = "{flow_run.name}/{task_run.task_name}-{parameters[x]}.pickle"
    assert check_storage_key(template) == template
    assert check_storage_key("fixed.json") == "fixed.json"
