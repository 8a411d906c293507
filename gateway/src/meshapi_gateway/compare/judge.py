"""The judge: one more chat call that compares the models' answers.

Its prompt shows the conversation and every successful answer, labelled by model; the
caller's ``comparison_instructions`` replace the default instructions.
"""

from __future__ import annotations

from typing import Any

DEFAULT_INSTRUCTIONS = (
    "You compare answers that several AI models gave to the same conversation. Judge each for accuracy, "
    "completeness and clarity, point out errors and important differences, and say which answer is best and why. "
    "Be concise."
)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def judge_body(
    model: str,
    messages: list[dict[str, Any]],
    answers: list[tuple[str, str]],
    instructions: str | None,
    stream: bool = False,
) -> dict[str, Any]:
    conversation = "\n".join(f"{m.get('role')}: {_text(m.get('content'))}" for m in messages)
    labelled = "\n\n".join(f"### Answer from {name}\n{text}" for name, text in answers)
    prompt = f"## Conversation\n{conversation}\n\n## Answers\n\n{labelled}"
    body: dict[str, Any] = {
        "model": model,
        "messages": [
            {"role": "system", "content": instructions or DEFAULT_INSTRUCTIONS},
            {"role": "user", "content": prompt},
        ],
    }
    if stream:
        body["stream"] = True
    return body
