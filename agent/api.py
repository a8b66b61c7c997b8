"""The agent's public face for the rest of the bot: whether it answers a user's free text, and the
answer (None: answer with the rules); whether a photo goes to the vision model, and what it saw."""

from agent.answering import AgentReply, answer, enabled
from agent.texts import AI_OFF
from agent.vision import Seen, Unseen, see_meal, vision_enabled

__all__ = ["AI_OFF", "AgentReply", "Seen", "Unseen", "answer", "enabled", "see_meal", "vision_enabled"]
