"""all-MiniLM-L6-v2 without PyTorch: BERT forward pass, mean pooling, L2 normalisation.

This is what sentence-transformers computes for this model (Transformer → Pooling(mean) →
Normalize), from a few wheels (numpy, tokenizers, safetensors, onnxruntime) instead of a
multi-gigabyte framework. The pass runs on onnxruntime (``onnx_graph.py``: the same layers as
a graph, about half the CPU for a short prompt) when it is installed, else in plain numpy
here. Either way the vectors match sentence-transformers' to cosine ≥ 0.999 (checked by the
test suite against reference vectors recorded with the real library).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from numpy.typing import NDArray
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from meshapi_gateway.providers.local_embeddings.onnx_graph import available as onnx_graph_available

Floats = NDArray[np.float32]

# BLAS threads per pass. OpenBLAS defaults to one thread per core and, on a busy small
# machine, its spinning threads made a pass ten times slower than a single thread (measured
# on 2 cores: 0.77 s vs 7.4 s for six inputs); half the cores leaves room for the event loop.
BLAS_THREADS = max(1, min(4, (os.cpu_count() or 2) // 2))

# Padded tokens one forward pass may hold; larger requests run in length-sorted slices
# so memory stays bounded (a slice of 256-token inputs is ~64 rows).
TOKENS_PER_PASS = 16384


def _layer_norm(x: Floats, weight: Floats, bias: Floats, eps: float) -> Floats:
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    var = np.mean(centered * centered, axis=-1, keepdims=True)
    out: Floats = centered / np.sqrt(var + eps) * weight + bias
    return out


def _gelu(x: Floats) -> Floats:
    """Exact (erf) GELU, as BERT uses: 0.5·(x + |x|·erf(|x|/√2)), computed in place.

    numpy has no erf; Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7) stands in for it.
    """
    z = np.abs(x)
    z *= np.float32(0.7071067811865476)  # z = |x|/√2
    t = z * np.float32(0.3275911)
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    poly = t * np.float32(1.061405429)
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(c)
        poly *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    poly *= z  # erf(|x|/√2) = 1 - poly
    np.subtract(np.float32(1.0), poly, out=poly)
    poly *= np.abs(x)
    poly += x
    poly *= np.float32(0.5)
    return poly


def _softmax(x: Floats) -> Floats:
    x -= x.max(axis=-1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=-1, keepdims=True)
    return x


class _Layer:
    __slots__ = (
        "ffn_b",
        "ffn_w",
        "in_b",
        "in_w",
        "ln1_b",
        "ln1_w",
        "ln2_b",
        "ln2_w",
        "out_b",
        "out_w",
        "qkv_b",
        "qkv_w",
    )

    def __init__(self, w: dict[str, Floats], prefix: str) -> None:
        def get(name: str) -> Floats:
            return w[prefix + name].astype(np.float32)

        # Query, key and value in one matmul; weights stored transposed for x @ W.
        self.qkv_w = np.ascontiguousarray(
            np.concatenate(
                [
                    get("attention.self.query.weight"),
                    get("attention.self.key.weight"),
                    get("attention.self.value.weight"),
                ],
                axis=0,
            ).T
        )
        self.qkv_b = np.concatenate(
            [get("attention.self.query.bias"), get("attention.self.key.bias"), get("attention.self.value.bias")]
        )
        self.out_w = np.ascontiguousarray(get("attention.output.dense.weight").T)
        self.out_b = get("attention.output.dense.bias")
        self.ln1_w, self.ln1_b = get("attention.output.LayerNorm.weight"), get("attention.output.LayerNorm.bias")
        self.in_w = np.ascontiguousarray(get("intermediate.dense.weight").T)
        self.in_b = get("intermediate.dense.bias")
        self.ffn_w = np.ascontiguousarray(get("output.dense.weight").T)
        self.ffn_b = get("output.dense.bias")
        self.ln2_w, self.ln2_b = get("output.LayerNorm.weight"), get("output.LayerNorm.bias")


def _blas_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]
    except ImportError:  # optional: without it OpenBLAS keeps its own default
        return None
    return ThreadpoolController()


class MiniLMEncoder:
    """Sentence embeddings from a BERT-style sentence-transformers folder (safetensors + tokenizer.json)."""

    def __init__(self, folder: Path, runtime: str = "auto") -> None:
        """``runtime``: "onnxruntime", "numpy", or "auto" (onnxruntime when installed)."""
        config = json.loads((folder / "config.json").read_text())
        st_config_path = folder / "sentence_bert_config.json"
        st_config = json.loads(st_config_path.read_text()) if st_config_path.is_file() else {}
        self.max_seq_length = int(st_config.get("max_seq_length") or config.get("max_position_embeddings", 512))
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.vocab_size = int(config["vocab_size"])
        w = load_file(str(folder / "model.safetensors"))
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in w else ""
        self.word = w[prefix + "embeddings.word_embeddings.weight"].astype(np.float32)
        self.position = w[prefix + "embeddings.position_embeddings.weight"].astype(np.float32)
        self.token_type = w[prefix + "embeddings.token_type_embeddings.weight"].astype(np.float32)
        self.emb_ln_w = w[prefix + "embeddings.LayerNorm.weight"].astype(np.float32)
        self.emb_ln_b = w[prefix + "embeddings.LayerNorm.bias"].astype(np.float32)
        self.layers = [_Layer(w, f"{prefix}encoder.layer.{i}.") for i in range(int(config["num_hidden_layers"]))]
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_seq_length)
        cls_id, sep_id = self.tokenizer.token_to_id("[CLS]"), self.tokenizer.token_to_id("[SEP]")
        if cls_id is None or sep_id is None:
            raise ValueError(f"{folder / 'tokenizer.json'} has no [CLS]/[SEP] tokens")
        self.cls_id: int = cls_id
        self.sep_id: int = sep_id
        self.dimensions = self.hidden
        self._lock = threading.Lock()
        self._blas = _blas_controller()
        self._onnx = onnx_graph_available() if runtime == "auto" else runtime == "onnxruntime"
        self._sessions: dict[bool, Any] = {}

    # -- tokens ----------------------------------------------------------------
    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        return [list(enc.ids) for enc in self.tokenizer.encode_batch(list(texts))]

    def wrap_ids(self, ids: Sequence[int]) -> list[int]:
        """Caller-given token ids (this model's vocabulary) framed as the tokenizer would: [CLS] … [SEP]."""
        body = list(ids)
        if body and body[0] == self.cls_id:
            body = body[1:]
        if body and body[-1] == self.sep_id:
            body = body[:-1]
        return [self.cls_id, *body[: self.max_seq_length - 2], self.sep_id]

    # -- forward ---------------------------------------------------------------
    def _session(self, int8: bool) -> Any:
        """The onnxruntime session (float32 or int8), built on first use; None where onnxruntime is missing."""
        if not self._onnx:
            return None
        found = self._sessions.get(int8)
        if found is None:
            from meshapi_gateway.providers.local_embeddings import onnx_graph

            found = self._sessions[int8] = onnx_graph.session(onnx_graph.build(self, int8=int8), BLAS_THREADS)
        return found

    def _numpy_hidden(self, ids: NDArray[np.int64], mask: Floats) -> Floats:
        """The last hidden state, (n, L, hidden), in plain numpy: the runtime when onnxruntime is not installed."""
        n, length = ids.shape
        tokens = n * length
        # Dense layers work on a (tokens, hidden) matrix: one BLAS call instead of one per input.
        x = (self.word[ids] + self.position[:length][None, :, :] + self.token_type[0]).reshape(tokens, self.hidden)
        x = _layer_norm(x, self.emb_ln_w, self.emb_ln_b, self.eps)
        head_dim = self.hidden // self.heads
        scale = np.float32(1.0 / np.sqrt(head_dim))
        # Padding positions get a large negative score, so softmax gives them no weight.
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for layer in self.layers:
            qkv = (x @ layer.qkv_w + layer.qkv_b).reshape(n, length, 3, self.heads, head_dim)
            qkv = qkv.transpose(2, 0, 3, 1, 4)
            # Contiguous operands let numpy hand every head's matmul to BLAS (10x faster than strided views).
            q = np.ascontiguousarray(qkv[0])
            k_t = np.ascontiguousarray(qkv[1].transpose(0, 1, 3, 2))
            v = np.ascontiguousarray(qkv[2])
            scores = q @ k_t
            scores *= scale
            scores += bias
            probs = _softmax(scores)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(tokens, self.hidden)
            x = _layer_norm(x + (context @ layer.out_w + layer.out_b), layer.ln1_w, layer.ln1_b, self.eps)
            inner = _gelu(x @ layer.in_w + layer.in_b)
            x = _layer_norm(x + (inner @ layer.ffn_w + layer.ffn_b), layer.ln2_w, layer.ln2_b, self.eps)
        out: Floats = x.reshape(n, length, self.hidden)
        return out

    def _forward(self, batch: list[list[int]], int8: bool = False) -> Floats:
        n = len(batch)
        length = max(len(ids) for ids in batch)
        ids = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for i, row in enumerate(batch):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1.0
        session = self._session(int8)
        if session is not None:
            x: Floats = session.run(["hidden"], {"ids": ids, "mask": mask})[0]
        else:
            x = self._numpy_hidden(ids, mask)
        summed = (x * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: Floats = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return unit

    def encode_ids(self, batch: list[list[int]], int8: bool = False) -> Floats:
        """Embeddings for already-tokenized inputs, in input order; one pass unless the batch is huge.

        ``int8``: the quantized graph (faster, vectors within cosine 0.99 of the exact ones; see
        ``onnx_graph.py``); where onnxruntime is missing the exact numpy pass answers either way."""
        if not batch:
            return np.zeros((0, self.hidden), dtype=np.float32)
        order = sorted(range(len(batch)), key=lambda i: len(batch[i]))
        out = np.zeros((len(batch), self.hidden), dtype=np.float32)
        limit = (
            self._blas.limit(limits=BLAS_THREADS, user_api="blas")
            if self._blas and not self._onnx
            else contextlib.nullcontext()
        )
        with self._lock, limit:  # passes run one at a time, each with a bounded number of threads
            start = 0
            while start < len(order):
                end = start + 1
                # Grow the slice while its padded size (rows x longest row) stays within budget.
                # int8 passes take one input each: the activations' quantization range spans the whole pass,
                # so a neighbour would change an input's vector (a repeated prompt must embed the same).
                while not int8 and end < len(order) and (end - start + 1) * len(batch[order[end]]) <= TOKENS_PER_PASS:
                    end += 1
                rows = order[start:end]
                out[rows] = self._forward([batch[i] for i in rows], int8)
                start = end
        return out

    def encode(self, texts: Sequence[str], int8: bool = False) -> Floats:
        return self.encode_ids(self.tokenize(texts), int8)
