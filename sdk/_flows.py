"""``@flow``: a function whose calls are recorded and orchestrated as flow runs."""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from functools import cached_property, update_wrapper
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from runplane._engine import options as check
from runplane._engine.names import NameTemplate
from runplane._engine.parameters import ParameterValidator
from runplane._engine.results import ResultOptions, check_serializer
from runplane._option_signatures import method_takes_options_of, takes_options_of
from runplane._task_runners import TaskRunner, ThreadPoolTaskRunner

if TYPE_CHECKING:
    from runplane._client.models import Deployment
    from runplane._client.states import State
    from runplane._deployments.runner_deployment import RunnerDeployment
    from runplane._deployments.sources import CodeSource, GitRepository
    from runplane._runtime.results import ResultSerializer, ResultStorage

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

Hooks = Iterable[Callable[..., Any]] | None


@dataclass(frozen=True, kw_only=True)
class FlowOptions:
    """The options of ``@flow(...)`` and ``Flow.with_options(...)``, as given.

    Declared here once: the decorator's and ``with_options``' keyword arguments are these
    fields (see _option_signatures). Applied to a function, the options make a flow of it.
    """

    name: str | None = None
    description: str | None = None
    version: str | None = None
    retries: int | None = None
    retry_delay_seconds: float | list[float] | None = None
    timeout_seconds: float | None = None
    tags: Iterable[str] | None = None
    log_prints: bool = False
    persist_result: bool | None = None
    result_storage: ResultStorage | None = None
    result_serializer: ResultSerializer | str | None = None
    cache_result_in_memory: bool = True
    flow_run_name: NameTemplate | None = None
    validate_parameters: bool = True
    task_runner: TaskRunner | None = None
    on_completion: Hooks = None
    on_failure: Hooks = None
    on_crashed: Hooks = None
    on_cancellation: Hooks = None
    on_running: Hooks = None

    def __call__(self, fn: Callable[P, T]) -> Flow[P, T]:
        return Flow(fn, self)


_FLOW_OPTION_NAMES = frozenset(field.name for field in dataclasses.fields(FlowOptions))


class Flow(Generic[P, R]):
    """A flow: calling it creates a flow run, runs the function and returns its value.

    ``flow(..., return_state=True)`` returns the final ``State`` instead. Calling an async
    flow returns a coroutine. Inside another flow, a call is a subflow run.
    """

    def __init__(self, fn: Callable[P, R], options: FlowOptions | None = None) -> None:
        if not callable(fn):
            raise TypeError(f"@flow needs a function, got {fn!r}")
        given = options or FlowOptions()
        if callable(given.retry_delay_seconds):
            raise TypeError("a flow's retry_delay_seconds must be a number or a list of numbers")
        from runplane._retries import retry_delays

        self.fn = fn
        self.options = given
        self.name = check.check_name(given.name, fn, "flow")
        self.description = given.description or inspect.getdoc(fn)
        self.version = given.version
        self.retries = check.check_retries(given.retries)
        self.retry_delay_seconds = check.check_retry_delay(given.retry_delay_seconds)
        self.retry_delays = retry_delays(self.retry_delay_seconds, self.retries)
        self.timeout_seconds = check.check_timeout(given.timeout_seconds)
        self.tags = check.check_tags(given.tags)
        self.log_prints = given.log_prints
        check_serializer(given.result_serializer)
        self.result_options = ResultOptions(
            given.persist_result,
            given.result_storage,
            given.result_serializer,
            in_memory=bool(given.cache_result_in_memory),
        )
        self.persists = self.result_options.persists()
        flow_run_name = given.flow_run_name
        if flow_run_name is not None and not isinstance(flow_run_name, str | Callable):
            raise TypeError("flow_run_name must be a template string or a callable")
        self.flow_run_name = flow_run_name
        self.validate_parameters = given.validate_parameters
        task_runner = given.task_runner
        if task_runner is not None and not isinstance(task_runner, TaskRunner):
            raise TypeError(f"task_runner must be a TaskRunner, got {task_runner!r}")
        self.task_runner = task_runner or ThreadPoolTaskRunner()
        self.on_completion = check.check_hooks("on_completion", given.on_completion)
        self.on_failure = check.check_hooks("on_failure", given.on_failure)
        self.on_crashed = check.check_hooks("on_crashed", given.on_crashed)
        self.on_cancellation = check.check_hooks("on_cancellation", given.on_cancellation)
        self.on_running = check.check_hooks("on_running", given.on_running)
        self.is_async = inspect.iscoroutinefunction(fn)
        self.validator = ParameterValidator(fn)
        self.code_source: CodeSource | None = None
        """Where ``from_source`` found the flow; its deployments tell runners the same."""
        update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"Flow(name={self.name!r})"

    @cached_property
    def signature(self) -> inspect.Signature:
        return inspect.signature(self.fn)

    @method_takes_options_of(FlowOptions)
    def with_options(self, **changes: Any) -> Flow[P, R]:
        """A copy of the flow with some options changed."""
        unknown = set(changes) - _FLOW_OPTION_NAMES
        if unknown:
            raise TypeError(f"unknown flow options: {', '.join(sorted(unknown))}")
        changed = Flow(self.fn, dataclasses.replace(self.options, **changes))
        changed.code_source = self.code_source
        return changed

    @classmethod
    def from_source(
        cls, source: str | os.PathLike[str] | GitRepository, entrypoint: str
    ) -> Flow[..., Any]:
        """The flow ``entrypoint`` (``"flows/etl.py:nightly"``, relative to the source) names
        in ``source``: a local directory, or a git repository (a URL, a repository's path,
        or ``GitRepository(url, branch=...)``), cloned into ``RUNPLANE_HOME/sources`` or
        updated there when cloned before. Call it, ``serve`` it or ``deploy`` it: a
        deployment of a repository's flow stores a ``git_clone`` pull step, and runners
        fetch the code the same way before each run."""
        from runplane._deployments.sources import load_from_source

        flow: Flow[..., Any] = load_from_source(source, entrypoint)
        return flow

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return_state = bool(kwargs.pop("return_state", False))
        from runplane._engine import flow_calls

        if self.is_async:
            return flow_calls.run_flow_async(self, args, kwargs, return_state)  # type: ignore[return-value]
        return flow_calls.run_flow(self, args, kwargs, return_state)  # type: ignore[no-any-return]

    def to_deployment(self, name: str, **options: Any) -> RunnerDeployment:
        """A deployment of this flow, to register with ``runplane.serve`` or ``apply``.

        Options: ``entrypoint`` (derived from where the flow is defined), ``cron``,
        ``interval`` (seconds or a timedelta), ``rrule`` (each a value or a list),
        ``schedules``, ``timezone``, ``anchor_time``, ``parameters``, ``paused``, ``tags``,
        ``version``, ``description``, ``work_pool_name``, ``work_queue_name``,
        ``concurrency_limit``, ``collision_strategy`` (ENQUEUE or CANCEL_NEW),
        ``enforce_parameter_schema`` (default True) and ``job_variables`` (``{"env": {...}}``
        sets the environment of each run's process).
        """
        from runplane._deployments.runner_deployment import to_deployment

        return to_deployment(self, name, **options)

    def serve(self, name: str, *, limit: int | None = None, **options: Any) -> None:
        """Registers a deployment of this flow and executes its runs here until SIGTERM;
        takes the options of ``to_deployment``, e.g. ``flow.serve("nightly", cron="0 2 * * *")``.
        """
        from runplane._deployments.serve import serve

        serve(self.to_deployment(name, **options), limit=limit)

    def deploy(self, name: str, work_pool_name: str | None = None, **options: Any) -> Deployment:
        """Registers a deployment of this flow on ``work_pool_name`` (or the pool named in the
        options), for that pool's runners to execute; takes the options of ``to_deployment``,
        e.g. ``flow.deploy("nightly", work_pool_name="etl", cron="0 2 * * *")``. Returns the
        deployment as stored; deploying again with the same name updates it."""
        from runplane._deployments.deploy import deploy

        [deployment] = deploy(self.to_deployment(name, **options), work_pool_name=work_pool_name)
        return deployment

    def call_with_state(self, *args: P.args, **kwargs: P.kwargs) -> State:
        """Runs the flow and returns its final state (a synchronous flow only)."""
        from runplane._engine import flow_calls

        state: State = flow_calls.run_flow(self, args, kwargs, True)
        return state


@overload
def flow(__fn: Callable[P, Coroutine[Any, Any, T]], /) -> Flow[P, Coroutine[Any, Any, T]]: ...
@overload
def flow(__fn: Callable[P, T], /) -> Flow[P, T]: ...
@overload
@takes_options_of(FlowOptions)
def flow(**options: Any) -> FlowOptions: ...
def flow(__fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Makes a function a flow, with or without options: ``@flow`` or ``@flow(retries=1)``."""
    given = FlowOptions(**options)
    return given if __fn is None else given(__fn)
