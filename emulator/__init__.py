"""Emulated upstreams: `routetax mock-upstream`, an OpenAI / vLLM / Ollama server over real HTTP.

A product command (dry runs without a provider) and the double that the demo, the tests and the
benchmarks run the proxy against — but not the proxy, so it lives outside `router`, the request path's
package. It imports nothing of `router` by design: a double that shared the proxy's code would share
its mistakes, and could not tell the proxy it was wrong. (It does use `metering.tokens`, for real token
counts, and `classifier`, so that "agentic" means to its degrade scripts what it means to the router.)

app.py builds the server and answers chat completions; responses.py the Responses API; embeddings.py the
embeddings API; behaviour.py what they share (scripted outcomes, token counts and prompt caching, answer
text, errors); loops.py how an agent loop goes on (its tool rounds, the ReAct text protocol); schema.py a
valid instance of a JSON schema, for structured output and typed tool arguments.

The demo, which joins this emulator with the proxy, is its own package beside it: `demo`.
"""
