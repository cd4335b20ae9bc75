"""The agent as an MCP server: a policy-bound wallet for LLM agents (``autopay mcp``).

An MCP client (a desktop assistant, an agent framework) gets tools over one
agent: :mod:`.tools` holds what each tool does (plain functions over the
:class:`~autopay_app.agent.core.Agent` facade and the ledger's reads),
:mod:`.server` registers them with the official ``mcp`` SDK's ``MCPServer``
(descriptions and input schemas written for a model, read-only resources:
the policy and the catalog), and :mod:`.transport` serves it over stdio or
streamable HTTP behind the JSON API's bearer token.

Money moves only through ``Agent.fetch``: the same pipeline, policy, spend
windows under the spend lock, balance guard, write-ahead, verification and
Phase 2 approval as any other purchase. No tool changes the policy, the caps
or the autonomy level.
"""
