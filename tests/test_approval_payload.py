"""The approval card shows what the tool does in whole sentences (agent-chat-ui renders `description`)."""

from etl_assistant.agent.approval import approval_request
from etl_assistant.tools import REGISTRY


def test_the_description_is_the_tools_whole_opening_sentence_not_its_first_wrapped_line():
    tools = {tool.name: tool for tool in REGISTRY}
    request = approval_request([{"name": "deploy", "args": {"plan_id": "p1"}, "id": "c1"}], tools)
    description = request["action_requests"][0]["description"]
    # the whole opening sentence, and it is for the person: it names no internal tool (issue 14)
    assert description == ("Deploy datasets (as warehouse tables) and datamarts to the warehouse after the "
                           "person approves. Approve to run it as shown.")
    assert request["review_configs"] == [
        {"action_name": "deploy", "allowed_decisions": ["approve", "edit", "reject"]}
    ]


def test_no_approval_card_names_an_internal_tool():
    tools = {tool.name: tool for tool in REGISTRY}
    identifiers = [name for name in tools if "_" in name]  # plan_deploy: not a word a person says
    for tool in REGISTRY:
        if not tool.needs_approval:
            continue
        request = approval_request([{"name": tool.name, "args": {}, "id": "c1"}], tools)
        description = request["action_requests"][0]["description"]
        assert [name for name in identifiers if name in description] == [], (tool.name, description)
