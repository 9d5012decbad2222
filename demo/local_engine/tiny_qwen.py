"""Generate a tiny Qwen3-architecture model (GGUF) whose answers are known in advance.

No weights can be downloaded here, and a real engine needs a real model file to serve. So this
writes one: the Qwen3 architecture as llama.cpp loads it (one transformer block, RMSNorm,
q/k-norm, NEOX RoPE, SwiGLU), a small byte-level BPE vocabulary trained locally with
`tokenizers` (Qwen2's pre-tokenizer, Qwen's control tokens and tool tags), and Qwen3's own chat
template. The weights are set by hand so that greedy decoding behaves like a little agent:

- no tools offered, no tool result: the fixed greeting `GREETING`;
- tools offered and no tool result yet: one call, `search_orders({"customer_id": "C-1042"})`,
  in Qwen's `<tool_call>` format (llama.cpp's server parses it into `tool_calls`);
- a tool result in the conversation: the text answer `TOOL_ANSWER`.

How: attention head 0 lights a flag when the prompt holds `<tools>` (the template writes it only
when tools are declared), head 1 when it holds `<tool_response>` (a tool result). Their keys sit on
RoPE's slowest-turning pair, so the flags do not depend on where the tag is. The feed-forward
layer is a lookup table: one unit per (case, current token) fires and writes the next token of
that case's answer; the output head reads it with a margin of ~80 logits, so even the server's
default sampling picks it. Answers are therefore exact and repeatable, which is what lets the
tests assert a whole agent loop and its ledger records to the token.

Run it: `python -m demo.local_engine.tiny_qwen OUT.gguf` (≈ 0.44 MB, ≈ 0.1 M parameters); `--hf DIR` writes
the same model in Hugging Face's format (vLLM).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

GREETING = "Hello! I am a tiny Qwen model, served locally."
TOOL_NAME = "search_orders"
TOOL_ARGUMENTS = {"customer_id": "C-1042"}
TOOL_ANSWER = "The tool answered, so the task is done."

CONTROL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
# Qwen's own added (non-special) tokens, plus `<tools>` (a marker here) and the tool call's body: one
# token, so no token repeats inside an answer (the lookup table keys on the current token).
TOOL_CALL_BODY = "\n" + json.dumps({"name": TOOL_NAME, "arguments": TOOL_ARGUMENTS}) + "\n"
USER_TOKENS = ("<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>", "<tools>")
EXTRA_USER_TOKENS = (TOOL_CALL_BODY,)
EOS = "<|im_end|>"

# Qwen2's pre-tokenizer (llama.cpp's `qwen2` pre-type uses the same expression).
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

HEAD_DIM = 32  # the smallest head size vLLM's CPU attention runs (llama.cpp takes any)
N_HEAD = 2
ROPE_BASE = 1_000_000.0
CONTEXT_LENGTH = 32_768
VOCAB_SIZE = 640  # BPE target before the added tokens
SLOW_PAIR = HEAD_DIM // 2 - 1  # NEOX RoPE: dims (15, 31) turn slowest, ~2.4e-6 rad per position at this base
SCORE_SCALE = 3.5  # q/k-norm weight on the slow pair: a matching key scores √32·3.5² ≈ 69 over the rest
GATE_SCALE = 10.0
LOGIT_SCALE = 10.0


def chat_template() -> str:
    """Qwen3's chat template, as llama.cpp's source tree ships it (models/templates/Qwen-Qwen3-0.6B.jinja)."""
    return resources.files("demo.local_engine").joinpath("qwen3_chat_template.jinja").read_text(encoding="utf-8")


def _corpus() -> list[str]:
    """Text the BPE is trained on: the template's fixed strings, the answers (weighted), and ordinary prose."""
    prose = [
        "You are a support agent. Use the tools to act.",
        "Customer C-1042 says order 7 arrived broken. Find it and refund it.",
        "Check the last order of customer C-77 and refund it if it is late.",
        "Look up customer C-9 and tell me how many orders are open.",
        "Classify the sentiment of this review as positive, negative or neutral: 'The battery lasts two days.'",
        "Translate to French: 'The meeting is moved to Thursday afternoon.'",
        "Summarise in one sentence: routing cheap requests to a small model saves money when it finishes them.",
        "Write a haiku about cache hits. Hi there, how are you today? What is the weather like?",
        "The quick brown fox jumps over the lazy dog while the router meters every token it served.",
        '{"type": "function", "function": {"name": "search_orders", "description": "Search the order database.", '
        '"parameters": {"type": "object", "properties": {"customer_id": {"type": "string"}}, '
        '"required": ["customer_id"]}}}',
        '{"ok": true, "order_id": "7", "status": "refunded"}',
    ]
    template = [
        "<|im_start|>system\n",
        "<|im_start|>user\n",
        "<|im_start|>assistant\n",
        "<think>\n\n</think>\n\n",
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>",
        "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
        '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": '
        "<args-json-object>}\n</tool_call><|im_end|>\n",
        "\n<tool_response>\n",
        "\n</tool_response>",
    ]
    return prose * 3 + template * 5 + [GREETING, TOOL_ANSWER] * 50


def train_tokenizer():  # -> tokenizers.Tokenizer
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=list(CONTROL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus(), trainer)
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in USER_TOKENS + EXTRA_USER_TOKENS])
    return tokenizer


@dataclass(frozen=True)
class Vocabulary:
    tokens: list[str]  # GGUF token text: byte-level for BPE tokens, raw text for added ones
    types: list[int]  # gguf.TokenType values
    merges: list[str]

    def id(self, text: str) -> int:
        return self.tokens.index(text)


def vocabulary(tokenizer) -> Vocabulary:
    import gguf

    model = json.loads(tokenizer.to_str())["model"]
    vocab: dict[str, int] = dict(tokenizer.get_vocab(with_added_tokens=True))
    tokens = [""] * len(vocab)
    for text, index in vocab.items():
        tokens[index] = text
    types = []
    for text in tokens:
        if text in CONTROL_TOKENS:
            types.append(gguf.TokenType.CONTROL)
        elif text in USER_TOKENS or text in EXTRA_USER_TOKENS:
            types.append(gguf.TokenType.USER_DEFINED)
        else:
            types.append(gguf.TokenType.NORMAL)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    return Vocabulary(tokens, [int(t) for t in types], merges)


def answer_chains(tokenizer) -> dict[str, list[int]]:
    """Each case's answer as token ids, ending in EOS; every id appears once per answer."""
    eos = tokenizer.token_to_id(EOS)
    chains = {
        "greeting": tokenizer.encode(GREETING).ids,
        "tool_call": [tokenizer.token_to_id(t) for t in ("<tool_call>", TOOL_CALL_BODY, "</tool_call>")],
        "tool_answer": tokenizer.encode(TOOL_ANSWER).ids,
    }
    starts = set(start_tokens(tokenizer))
    for case, ids in chains.items():
        if len(set(ids)) != len(ids) or starts & set(ids):
            raise ValueError(f"answer {case!r} repeats a token or holds a start token (the table needs distinct ones)")
        ids.append(eos)
    return chains


def start_tokens(tokenizer) -> list[int]:
    """The last token of a generation prompt: `assistant\\n`, or `</think>\\n\\n` with thinking off."""
    return sorted({tokenizer.encode("<|im_start|>assistant\n").ids[-1], tokenizer.encode("</think>\n\n").ids[-1]})


def weights(tokenizer, n_vocab: int) -> dict[str, np.ndarray]:
    """The hand-set tensors, numpy shape (out, in) as GGUF expects for llama.cpp's Qwen3."""
    chains = answer_chains(tokenizer)
    starts = start_tokens(tokenizer)
    # (case flags) -> [(current token, next token)]; the case is read off the two attention flags.
    transitions: list[tuple[str, int, int]] = []
    for case, chain in chains.items():
        for current, nxt in zip([*starts, *chain[:-1]], [chain[0]] * len(starts) + chain[1:], strict=True):
            transitions.append((case, current, nxt))
    in_tokens = sorted({current for _, current, _ in transitions})
    out_tokens = sorted({nxt for _, _, nxt in transitions})
    const, f_tools, f_result, m_tools, m_result = range(5)
    in_dim = {t: 5 + i for i, t in enumerate(in_tokens)}
    out_dim = {t: 5 + len(in_tokens) + i for i, t in enumerate(out_tokens)}
    d = -(-(5 + len(in_tokens) + len(out_tokens)) // 32) * 32
    n_ff = -(-len(transitions) // 16) * 16
    tools_id, result_id, eos = (tokenizer.token_to_id(t) for t in ("<tools>", "<tool_response>", EOS))

    embed = np.zeros((n_vocab, d), np.float32)
    embed[:, const] = 1.0
    for token, dim in in_dim.items():
        embed[token, dim] = 1.0
    embed[tools_id, m_tools] = 1.0
    embed[result_id, m_result] = 1.0

    q = np.zeros((N_HEAD * HEAD_DIM, d), np.float32)
    k = np.zeros_like(q)
    v = np.zeros_like(q)
    o = np.zeros((d, N_HEAD * HEAD_DIM), np.float32)
    marker_rms = np.sqrt(2.0 / d)  # a marker token's embedding is const + marker: V reads exactly 1 off it
    for head, (marker, flag) in enumerate(((m_tools, f_tools), (m_result, f_result))):
        base = head * HEAD_DIM
        q[base + SLOW_PAIR, const] = 1.0
        k[base + SLOW_PAIR, marker] = 1.0
        v[base, marker] = marker_rms
        o[flag, base] = 1.0
    qk_norm = np.ones(HEAD_DIM, np.float32)
    qk_norm[SLOW_PAIR] = SCORE_SCALE

    gate = np.zeros((n_ff, d), np.float32)
    up = np.zeros((n_ff, d), np.float32)
    down = np.zeros((d, n_ff), np.float32)
    # Fires (> 0) only for its token and its case; every other unit sits at least 0.5 below zero.
    case_weights = {  # (tools flag, result flag, threshold)
        "greeting": (-1.0, -1.0, 0.5),
        "tool_call": (1.0, -1.0, 1.5),
        "tool_answer": (0.0, 1.0, 1.5),
    }
    for unit, (case, current, nxt) in enumerate(transitions):
        w_tools, w_result, threshold = case_weights[case]
        gate[unit, in_dim[current]] = GATE_SCALE
        gate[unit, f_tools] = GATE_SCALE * w_tools
        gate[unit, f_result] = GATE_SCALE * w_result
        gate[unit, const] = -GATE_SCALE * threshold
        up[unit, const] = 1.0
        down[out_dim[nxt], unit] = 1.0

    output = np.zeros((n_vocab, d), np.float32)
    for token, dim in out_dim.items():
        output[token, dim] = LOGIT_SCALE
    output[eos, const] = LOGIT_SCALE  # nothing fired (an unexpected prompt): end the answer rather than babble

    ones = np.ones(d, np.float32)
    return {
        "token_embd.weight": embed,
        "output_norm.weight": ones,
        "output.weight": output,
        "blk.0.attn_norm.weight": ones,
        "blk.0.attn_q.weight": q,
        "blk.0.attn_k.weight": k,
        "blk.0.attn_v.weight": v,
        "blk.0.attn_output.weight": o,
        "blk.0.attn_q_norm.weight": qk_norm,
        "blk.0.attn_k_norm.weight": qk_norm.copy(),
        "blk.0.ffn_norm.weight": ones.copy(),
        "blk.0.ffn_gate.weight": gate,
        "blk.0.ffn_up.weight": up,
        "blk.0.ffn_down.weight": down,
    }


def write_gguf(path: Path, name: str = "routetax-tiny-qwen3") -> Path:
    """Write the model to `path` (a .gguf file) and return it."""
    import gguf

    tokenizer = train_tokenizer()
    vocab = vocabulary(tokenizer)
    tensors = weights(tokenizer, len(vocab.tokens))
    d = tensors["token_embd.weight"].shape[1]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), "qwen3")
    writer.add_name(name)
    writer.add_context_length(CONTEXT_LENGTH)
    writer.add_embedding_length(d)
    writer.add_block_count(1)
    writer.add_feed_forward_length(tensors["blk.0.ffn_gate.weight"].shape[0])
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD)
    writer.add_key_length(HEAD_DIM)
    writer.add_value_length(HEAD_DIM)
    writer.add_rope_freq_base(ROPE_BASE)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    writer.add_token_merges(vocab.merges)
    writer.add_bos_token_id(vocab.id("<|endoftext|>"))
    writer.add_eos_token_id(vocab.id(EOS))
    writer.add_pad_token_id(vocab.id("<|endoftext|>"))
    writer.add_add_bos_token(False)
    writer.add_chat_template(chat_template())
    for tensor_name, array in tensors.items():
        writer.add_tensor(tensor_name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


# llama.cpp's tensor names -> Hugging Face's Qwen3ForCausalLM (same layouts: Qwen3 needs no q/k permutation)
HF_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
    "blk.0.attn_norm.weight": "model.layers.0.input_layernorm.weight",
    "blk.0.attn_q.weight": "model.layers.0.self_attn.q_proj.weight",
    "blk.0.attn_k.weight": "model.layers.0.self_attn.k_proj.weight",
    "blk.0.attn_v.weight": "model.layers.0.self_attn.v_proj.weight",
    "blk.0.attn_output.weight": "model.layers.0.self_attn.o_proj.weight",
    "blk.0.attn_q_norm.weight": "model.layers.0.self_attn.q_norm.weight",
    "blk.0.attn_k_norm.weight": "model.layers.0.self_attn.k_norm.weight",
    "blk.0.ffn_norm.weight": "model.layers.0.post_attention_layernorm.weight",
    "blk.0.ffn_gate.weight": "model.layers.0.mlp.gate_proj.weight",
    "blk.0.ffn_up.weight": "model.layers.0.mlp.up_proj.weight",
    "blk.0.ffn_down.weight": "model.layers.0.mlp.down_proj.weight",
}


def write_hf(directory: Path) -> Path:
    """The same model in Hugging Face's format (config, safetensors, tokenizer), for engines such as vLLM."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer()
    tensors = weights(tokenizer, tokenizer.get_vocab_size())
    d = tensors["token_embd.weight"].shape[1]
    eos, pad = tokenizer.token_to_id(EOS), tokenizer.token_to_id("<|endoftext|>")
    config = {
        "architectures": ["Qwen3ForCausalLM"],
        "model_type": "qwen3",
        "vocab_size": tokenizer.get_vocab_size(),
        "hidden_size": d,
        "intermediate_size": tensors["blk.0.ffn_gate.weight"].shape[0],
        "num_hidden_layers": 1,
        "num_attention_heads": N_HEAD,
        "num_key_value_heads": N_HEAD,
        "head_dim": HEAD_DIM,
        "hidden_act": "silu",
        "max_position_embeddings": CONTEXT_LENGTH,
        "rms_norm_eps": 1e-6,
        "rope_theta": ROPE_BASE,
        "attention_bias": False,
        "tie_word_embeddings": False,
        "use_sliding_window": False,
        "torch_dtype": "float32",
        "bos_token_id": pad,
        "eos_token_id": eos,
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    (directory / "generation_config.json").write_text(json.dumps({"eos_token_id": [eos, pad], "pad_token_id": pad}))
    tokenizer.save(str(directory / "tokenizer.json"))
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "chat_template": chat_template(),
        "eos_token": EOS,
        "pad_token": "<|endoftext|>",
        "bos_token": None,
        "model_max_length": CONTEXT_LENGTH,
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))
    _write_safetensors(directory / "model.safetensors", {HF_NAMES[k]: v for k, v in tensors.items()})
    return directory


def _write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """The safetensors layout (an 8-byte header size, a JSON header, the raw little-endian data), F32 only."""
    header: dict[str, object] = {}
    offset = 0
    for name, array in tensors.items():
        size = array.astype("<f4").nbytes
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as out:
        out.write(len(raw).to_bytes(8, "little") + raw)
        for array in tensors.values():
            out.write(np.ascontiguousarray(array, dtype="<f4").tobytes())


def parameter_count(path: Path) -> int:
    import gguf

    return sum(int(t.n_elements) for t in gguf.GGUFReader(str(path)).tensors)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the tiny, deterministic Qwen3-architecture GGUF model.")
    parser.add_argument("out", type=Path, help="where to write the .gguf file (with --hf: a directory)")
    parser.add_argument("--hf", action="store_true", help="write Hugging Face's format instead (for vLLM)")
    args = parser.parse_args(argv)
    if args.hf:
        print(write_hf(args.out))
        return 0
    path = write_gguf(args.out)
    print(f"{path}: {path.stat().st_size / 1e6:.2f} MB, {parameter_count(path):,} parameters")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
