"""Context-overflow error bodies as the real engines send them (llama.cpp's server, vLLM), for the dialect tests."""

LLAMACPP_OVERFLOW = {
    "error": {
        "code": 400,
        "message": "request (5210 tokens) exceeds the available context size (4096 tokens), try increasing it",
        "type": "exceed_context_size_error",
        "n_prompt_tokens": 5210,
        "n_ctx": 4096,
    }
}

VLLM_OVERFLOW = {
    "error": {
        "message": "This model's maximum context length is 4096 tokens. However, you requested 5210 tokens "
        "(5194 in the messages, 16 in the completion). Please reduce the length of the messages or completion.",
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }
}
