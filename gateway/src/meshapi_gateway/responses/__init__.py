"""``/v1/responses``: OpenAI's Responses API, passed through where the upstream has it, else served via chat."""
