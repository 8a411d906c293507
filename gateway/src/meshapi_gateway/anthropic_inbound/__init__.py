"""Anthropic's Messages API at the edge: ``POST /v1/messages`` for Claude Code and the anthropic SDK.

The request is translated into the gateway's chat request (or passed through untouched to
an Anthropic upstream), runs through the same chat pipeline as ``/v1/chat/completions``, and
the answer, stream and errors are translated back into Anthropic's shapes (docs/anthropic.md).
"""
