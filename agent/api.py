"""The agent's public face for the rest of the bot: whether it answers a user's free text, and the
answer (None: answer with the rules)."""

from agent.answering import AgentReply, answer, enabled
from agent.texts import AI_OFF

__all__ = ["AI_OFF", "AgentReply", "answer", "enabled"]
