"""The fake OpenAI-compatible provider (tools/fake_llm.py, shared with the benchmark)."""

from tools.fake_llm import (TEST_LLM_KEY, FakeLLM, Scripted, by_tool, calls, images, last, schema_errors, text,
                            tool_results, user_text)

__all__ = ["TEST_LLM_KEY", "FakeLLM", "Scripted", "by_tool", "calls", "images", "last", "schema_errors", "text",
           "tool_results", "user_text"]
