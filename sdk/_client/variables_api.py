"""Client methods for variables: named JSON values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runplane._client import convert
from runplane._client.models import Page, Variable
from runplane._client.transport import Transport
from runplane.v1 import variables_pb2


class VariablesAPI(Transport):
    """Variables: named JSON values that flows read at run time."""

    async def set_variable(
        self, name: str, value: Any, *, tags: Sequence[str] = (), overwrite: bool = False
    ) -> Variable:
        """Stores a variable; an existing name raises ``AlreadyExists`` unless ``overwrite``.

        The value is any JSON-compatible object, and comes back with its types: integers of
        any size, and ``1.0`` as a float. NaN and Infinity raise ``InvalidArgument``.
        """
        request = variables_pb2.SetVariableRequest(
            name=name,
            value_json=convert.json_to_pb(value, "value_json"),
            tags=tags,
            overwrite=overwrite,
        )
        response = await self._unary(self.stubs.variables.SetVariable, request)
        return convert.variable_from_pb(response.variable)

    async def get_variable(self, name: str) -> Variable:
        """The variable with this name; ``NotFound`` when there is none."""
        request = variables_pb2.GetVariableRequest(name=name)
        response = await self._unary(self.stubs.variables.GetVariable, request)
        return convert.variable_from_pb(response.variable)

    async def list_variables(
        self, *, name_prefix: str = "", page_size: int = 0, page_token: str | None = None
    ) -> Page[Variable]:
        """Variables ordered by name, those starting with ``name_prefix`` when given."""
        request = variables_pb2.ListVariablesRequest(
            name_prefix=name_prefix, page_size=page_size, page_token=page_token or ""
        )
        response = await self._unary(self.stubs.variables.ListVariables, request)
        items = [convert.variable_from_pb(item) for item in response.variables]
        return Page(items, response.next_page_token or None)

    async def delete_variable(self, name: str) -> None:
        """Deletes a variable; ``NotFound`` when there is none."""
        request = variables_pb2.DeleteVariableRequest(name=name)
        await self._unary(self.stubs.variables.DeleteVariable, request)
