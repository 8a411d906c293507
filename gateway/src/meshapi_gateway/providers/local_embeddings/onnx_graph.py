"""The same BERT forward pass as ``bert.py``, written as an ONNX graph from the shipped weights, for onnxruntime.

numpy hands each dense layer to OpenBLAS, which repacks the weight matrix on every call: for a
short prompt (a dozen tokens) that repacking, and numpy's per-operation overhead, cost more than
the arithmetic (about 17 ms of CPU for a 14-token prompt). onnxruntime packs the weights once,
when the session is made, and fuses the layer norms and GELU: the same pass takes about half
the CPU. The graph is built here from the weights already loaded (nothing is downloaded, no
converted file is shipped), and its output is the last hidden state: pooling and
normalisation stay in ``bert.py``, shared by both runtimes.

``int8=True`` builds the same graph with every dense layer's weights quantized per output
column (symmetric, 8 bits) and the activations quantized on the fly (onnxruntime's
``DynamicQuantizeMatMul``): about a quarter of the float32 graph's CPU, at the price of a
small drift (cosine ≥ 0.98 to the exact vectors, similarities within about 0.03).
The weights are stored as ``uint8`` around a zero point of 128, not as ``int8``: with signed
weights onnxruntime picks its uint8-by-int8 kernel, which on x86 processors without VNNI (AVX2 only)
adds pairs of products in 16-bit registers that saturate, and there the vectors drifted to a
cosine of 0.97. Unsigned weights take the uint8-by-uint8 kernel, which widens before it adds: the same
integers, the same result on every processor, for ≈ 25 % more of the int8 graph's CPU on
an AVX2 machine (2.9 → 3.7 ms for a 14-token prompt). The
semantic cache uses it, where only vectors of the same graph are compared and the threshold
is a judgement anyway; ``/v1/embeddings`` keeps the float32 graph, whose vectors match
sentence-transformers'.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from meshapi_gateway.providers.local_embeddings.bert import MiniLMEncoder

OPSET = 17  # LayerNormalization is a standard operator from 17 on
MS_DOMAIN = "com.microsoft"  # onnxruntime's own operators (DynamicQuantizeMatMul)


def available() -> bool:
    """True when onnxruntime and onnx (which writes the graph) are importable."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def quantize(w: Any) -> tuple[Any, Any]:
    """Per output column symmetric 8 bits: (stored, scales) with ``w ≈ (stored - 128) * scales``, ``stored`` uint8."""
    scale = np.abs(w).max(axis=0) / np.float32(127.0)
    scale[scale == 0] = 1.0
    q = (np.clip(np.rint(w / scale), -127, 127) + 128).astype(np.uint8)
    return q, scale.astype(np.float32)


def build(encoder: MiniLMEncoder, int8: bool = False) -> bytes:
    """The serialized ONNX model: inputs ``ids`` (int64, n by L) and ``mask`` (float32, n by L), output ``hidden``."""
    from onnx import TensorProto, helper, numpy_helper

    inits: list[Any] = []
    nodes: list[Any] = []
    count = [0]

    def const(name: str, value: Any) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(kind: str, inputs: list[str], **attrs: Any) -> str:
        count[0] += 1
        out = f"{kind.lower()}_{count[0]}"
        nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    hidden, heads = encoder.hidden, encoder.heads
    head_dim = hidden // heads
    eps = encoder.eps

    def norm(x: str, w: str, b: str) -> str:
        return op("LayerNormalization", [x, w, b], axis=-1, epsilon=eps)

    def dense(x: str, name: str, w: Any, b: Any) -> str:
        if int8:
            q, scale = quantize(w)
            zero = np.full(len(scale), 128, dtype=np.uint8)
            inputs = [
                x,
                const(name + ".q", q),
                const(name + ".s", scale),
                const(name + ".z", zero),
                const(name + ".b", b),
            ]
            return op("DynamicQuantizeMatMul", inputs, domain=MS_DOMAIN)
        return op("Add", [op("MatMul", [x, const(name + ".w", w)]), const(name + ".b", b)])

    # Embeddings: word + position + token type 0, then a layer norm.
    word = op("Gather", [const("word", encoder.word), "ids"])
    length = op("Gather", [op("Shape", ["ids"]), const("one", np.array(1, dtype=np.int64))])
    positions = op(
        "Range", [const("zero", np.array(0, dtype=np.int64)), length, const("step", np.array(1, dtype=np.int64))]
    )
    pos = op("Gather", [const("position", encoder.position), positions])
    x = op("Add", [op("Add", [word, pos]), const("token_type", encoder.token_type[0])])
    x = norm(x, const("emb_ln.w", encoder.emb_ln_w), const("emb_ln.b", encoder.emb_ln_b))
    # Padding positions get a large negative score, so softmax gives them no weight.
    blocked = op("Mul", [op("Sub", [const("f_one", np.float32(1.0)), "mask"]), const("neg", np.float32(-1e9))])
    bias = op("Unsqueeze", [blocked, const("axes_1_2", np.array([1, 2], dtype=np.int64))])
    split_heads = const("split_heads", np.array([0, 0, heads, head_dim], dtype=np.int64))
    join_heads = const("join_heads", np.array([0, 0, hidden], dtype=np.int64))
    scale = const("scale", np.float32(1.0 / np.sqrt(head_dim)))
    half, root2 = const("half", np.float32(0.5)), const("root2", np.float32(np.sqrt(2.0)))
    f_one = "f_one"

    for i, layer in enumerate(encoder.layers):
        p = f"l{i}."
        q_w, k_w, v_w = np.split(layer.qkv_w, 3, axis=1)
        q_b, k_b, v_b = np.split(layer.qkv_b, 3)
        q = op("Transpose", [op("Reshape", [dense(x, p + "q", q_w, q_b), split_heads])], perm=[0, 2, 1, 3])
        k = op("Transpose", [op("Reshape", [dense(x, p + "k", k_w, k_b), split_heads])], perm=[0, 2, 3, 1])
        v = op("Transpose", [op("Reshape", [dense(x, p + "v", v_w, v_b), split_heads])], perm=[0, 2, 1, 3])
        scores = op("Add", [op("Mul", [op("MatMul", [q, k]), scale]), bias])
        context = op("MatMul", [op("Softmax", [scores], axis=-1), v])
        context = op("Reshape", [op("Transpose", [context], perm=[0, 2, 1, 3]), join_heads])
        attended = dense(context, p + "out", layer.out_w, layer.out_b)
        x = norm(op("Add", [x, attended]), const(p + "ln1.w", layer.ln1_w), const(p + "ln1.b", layer.ln1_b))
        inner = dense(x, p + "in", layer.in_w, layer.in_b)
        # Exact (erf) GELU, as BERT uses: the pattern onnxruntime fuses into one kernel.
        gelu = op("Mul", [op("Mul", [inner, op("Add", [op("Erf", [op("Div", [inner, root2])]), f_one])]), half])
        out = dense(gelu, p + "ffn", layer.ffn_w, layer.ffn_b)
        x = norm(op("Add", [x, out]), const(p + "ln2.w", layer.ln2_w), const(p + "ln2.b", layer.ln2_b))
    nodes.append(helper.make_node("Identity", [x], ["hidden"]))

    graph = helper.make_graph(
        nodes,
        "minilm",
        [
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["n", "length"]),
            helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["n", "length"]),
        ],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["n", "length", hidden])],
        inits,
    )
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid(MS_DOMAIN, 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8  # understood by every onnxruntime that knows opset 17
    data: bytes = model.SerializeToString()
    return data


def session(model: bytes, threads: int) -> Any:
    """An inference session on ``threads`` threads, with every graph optimisation onnxruntime has."""
    import onnxruntime as ort  # type: ignore[import-untyped]

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unused initializers are not ours to act on
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
