"""`routetax demo`: emulated upstreams, the proxy, and a realistic workload driven through both.

A product command, but not the proxy: it lives outside `router` (the request path's package), beside
`emulator`, which it starts. It is the one package that joins the two — it builds the proxy with
`router.app.create_app` and points its tiers at emulated upstreams — which is why it is not inside
`emulator`: the emulator stays free of any `router` import.

world.py: the demo's configuration, its truth, and a World (emulators + proxy in threads) that the demo
command, the tests and the benchmarks run; tasks.py: the tasks the world runs (kinds, counts, rounds, who is
abandoned, who gets feedback), planned from the seed; application.py: the application that runs them through
the openai SDK; local_qwen.py: `--qwen local`, the qwen tier served by
a real llama.cpp engine (local_engine/, which only the demo and the tests use) instead of the emulator.
"""
