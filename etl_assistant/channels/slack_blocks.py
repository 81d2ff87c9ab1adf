"""Block Kit messages the Slack channel posts: a reply, an approval request with Approve / Reject buttons, and
the same request once decided (buttons replaced by who decided).

Reply text is standard markdown (from `reply_text.ReplyTextEncoder`), so it goes into a `markdown` block and
Slack renders it; the block family allows 12,000 characters per message, so longer replies are shortened.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from etl_assistant.errors import InputError

MARKDOWN_LIMIT = 12_000  # cumulative for all markdown blocks of one message
NOTIFICATION_CHARS = 3_000  # the plain `text` shown in notifications
SHORTENED = "\n\n_(shortened to fit one Slack message)_"
APPROVE_ACTION = "etla_approve"
REJECT_ACTION = "etla_reject"
APPROVAL_BLOCK = "etla_approval"


class ApprovalTicket(BaseModel):
    """What a button carries back: which thread, which pending approval, how many actions it covers."""

    thread_id: str
    interrupt_id: str
    actions: int = 1

    def encode(self) -> str:
        return self.model_dump_json()

    @classmethod
    def decode(cls, value: str | None) -> ApprovalTicket:
        try:
            return cls.model_validate_json(value or "")
        except ValidationError:
            raise InputError("This button does not belong to an etl-assistant approval; ask again.") from None


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(SHORTENED)].rstrip() + SHORTENED


def _plain(text: str, emoji: bool = True) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": emoji}


def reply_message(text: str) -> dict[str, Any]:
    """`chat.postMessage` arguments (without channel/thread) for a markdown reply."""
    return {"text": _fit(text, NOTIFICATION_CHARS),
            "blocks": [{"type": "markdown", "text": _fit(text, MARKDOWN_LIMIT)}]}


def approval_message(text: str, ticket: ApprovalTicket) -> dict[str, Any]:
    """The reply so far (ending with the plan) and the buttons that resume the run."""
    value = ticket.encode()
    approve = {
        "type": "button",
        "action_id": APPROVE_ACTION,
        "text": _plain("Approve"),
        "style": "primary",
        "value": value,
        "confirm": {
            "title": _plain("Run it?"),
            "text": {"type": "mrkdwn", "text": "The actions shown above will run now."},
            "confirm": _plain("Approve"),
            "deny": _plain("Back"),
        },
    }
    reject = {"type": "button", "action_id": REJECT_ACTION, "text": _plain("Reject"), "style": "danger",
              "value": value}
    message = reply_message(text)
    message["blocks"].append({"type": "actions", "block_id": APPROVAL_BLOCK, "elements": [approve, reject]})
    return message


def decided_blocks(blocks: list[dict[str, Any]], note: str) -> list[dict[str, Any]]:
    """The approval message's blocks as Slack returned them, the buttons replaced by a note (mrkdwn)."""
    kept = [b for b in blocks if b.get("type") != "actions"]
    return [*kept, {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]}]


def decision_note(decision: Literal["approve", "reject"], user_id: str) -> str:
    return f":white_check_mark: Approved by <@{user_id}>" if decision == "approve" \
        else f":x: Rejected by <@{user_id}>"
