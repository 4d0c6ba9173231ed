"""Weight files for the io tests: valid safetensors (single, sharded, folders), GGUF v3/v2 and
torch.save checkpoints (also rewritten as a ZIP64 archive), each with .npy files holding the
expected bytes of every tensor (and, for GGUF block types, the dequantized values from the numpy
reference in weight_writers.py), listed in manifest.json; plus corrupt variants of each format,
whose expected error words live in tests/io/test_corrupt.cpp. Writes into --out."""
import argparse
import collections
import io
import json
import os
import shutil
import struct
import sys
import zipfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import weight_writers as ww  # noqa: E402

TORCH_DTYPES = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16",
                torch.float64: "f64", torch.int64: "i64", torch.int32: "i32", torch.int16: "i16",
                torch.int8: "i8", torch.uint8: "u8", torch.bool: "bool"}
TMP = None  # scratch folder for torch.save, set in main()
ST_NAMES = {"f32": "F32", "f16": "F16", "bf16": "BF16", "f64": "F64", "i64": "I64", "i32": "I32",
            "i16": "I16", "i8": "I8", "u8": "U8", "bool": "BOOL", "f8_e4m3": "F8_E4M3",
            "f8_e5m2": "F8_E5M2"}


class Out:
    def __init__(self, root):
        self.root = root
        self.manifest = {}

    def path(self, name):
        p = os.path.join(self.root, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def write(self, name, data):
        with open(self.path(name), "wb") as f:
            f.write(data)

    def expect(self, file, fmt, tensors, metadata=None, string_arrays=None):
        """tensors: list of (name, dtype, shape, expected array[, dequantized f32 array])."""
        entries = []
        for t in tensors:
            name, dtype, shape, arr = t[:4]
            stem = (file + "__" + name).replace("/", "_")
            np.save(self.path(f"expect/{stem}.npy"), arr)
            e = {"name": name, "dtype": dtype, "shape": list(shape), "bytes": f"{stem}.npy"}
            if len(t) > 4:
                np.save(self.path(f"expect/{stem}.f32.npy"), t[4])
                e["f32"] = f"{stem}.f32.npy"
            entries.append(e)
        self.manifest[file] = {"format": fmt, "tensors": entries, "metadata": metadata or {},
                               "string_arrays": string_arrays or {}}


def raw_view(arr):
    """The bytes of an array as an .npy dtype the C++ loader keeps bit-exact."""
    arr = np.ascontiguousarray(arr)
    if arr.dtype in (np.float32, np.float16, np.int64, np.int32, np.uint8, np.uint16):
        return arr
    return arr.view(np.uint8).reshape(-1) if arr.size else np.zeros(0, np.uint8)


def torch_raw(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(np.uint16)
    return raw_view(t.numpy())


# ---------------------------------------------------------------------------------------------

def make_safetensors(out, rng):
    def rand(dtype, shape):
        if dtype in ("f32", "f16", "f64"):
            a = rng.standard_normal(shape).astype({"f32": np.float32, "f16": np.float16,
                                                  "f64": np.float64}[dtype])
            return a, raw_view(a)
        if dtype == "bf16":
            a = (rng.standard_normal(shape).astype(np.float32).view(np.uint32) >> 16)
            a = a.astype(np.uint16)
            return a, a
        if dtype == "bool":
            a = rng.integers(0, 2, shape).astype(np.bool_)
            return a, raw_view(a)
        if dtype.startswith("f8"):
            a = rng.integers(0, 256, shape, dtype=np.uint8)
            return a, a
        np_t = {"i64": np.int64, "i32": np.int32, "i16": np.int16, "i8": np.int8, "u8": np.uint8}
        info = np.iinfo(np_t[dtype])
        a = rng.integers(info.min, info.max, shape, dtype=np_t[dtype], endpoint=True)
        return a, raw_view(a)

    specs = [("blocks.0.weight", "f32", (3, 4)), ("blocks.0.bias", "f16", (5,)),
             ("emb", "bf16", (2, 3)), ("f64", "f64", (3,)), ("ids", "i64", (4,)),
             ("i32", "i32", (2, 2)), ("i16", "i16", (3,)), ("i8", "i8", (5,)),
             ("u8", "u8", (6,)), ("mask", "bool", (7,)), ("fp8a", "f8_e4m3", (4, 2)),
             ("fp8b", "f8_e5m2", (3,)), ("empty", "f32", (0, 3)), ("scalar", "f32", ()),
             ("video", "f32", (1, 2, 1, 2, 3))]
    tensors, expect = [], []
    for name, dtype, shape in specs:
        arr, want = rand(dtype, shape)
        raw = np.ascontiguousarray(arr).tobytes()
        tensors.append((name, ST_NAMES[dtype], shape, raw))
        expect.append((name, dtype, shape, want))
    meta = {"format": "pt", "note": "kinema test file"}
    out.write("st/basic.safetensors", ww.safetensors_bytes(tensors, meta))
    out.expect("st/basic.safetensors", "safetensors", expect, meta)

    # Sharded: two shards and an index; the folder holds nothing else.
    shard_of = {}
    for k, shard in enumerate(["model-00001-of-00002.safetensors",
                               "model-00002-of-00002.safetensors"]):
        part = tensors[k * 4:(k + 1) * 4]
        out.write(f"sharded/{shard}", ww.safetensors_bytes(part))
        for t in part:
            shard_of[t[0]] = shard
    index = {"metadata": {"total_size": 1234}, "weight_map": shard_of}
    out.write("sharded/model.safetensors.index.json", json.dumps(index, indent=2).encode())
    names = set(shard_of)
    out.expect("sharded/model.safetensors.index.json", "safetensors",
               [e for e in expect if e[0] in names], {"total_size": "1234"})
    # A folder with one oddly named file.
    out.write("single/wan_small.safetensors", ww.safetensors_bytes(tensors[:2]))
    out.expect("single", "safetensors", expect[:2])

    # Corrupt variants (the expected words are in test_corrupt.cpp).
    good = ww.safetensors_bytes(tensors, meta)
    header_len = struct.unpack("<Q", good[:8])[0]
    out.write("bad/st_trunc_4.safetensors", good[:4])
    out.write("bad/st_trunc_header.safetensors", good[:8 + header_len // 2])
    out.write("bad/st_trunc_data.safetensors", good[:8 + header_len + 20])
    out.write("bad/st_header_len.safetensors", struct.pack("<Q", 1 << 40) + good[8:])
    out.write("bad/st_header_huge.safetensors", struct.pack("<Q", 2**63 + 5) + good[8:])
    w = [("a", "F32", (2, 2), bytes(16)), ("b", "F32", (2,), bytes(8))]

    def hdr(entries, name):
        out.write(f"bad/{name}.safetensors", ww.safetensors_bytes(w, header=entries))

    def entry(dtype="F32", shape=(2, 2), offsets=(0, 16)):
        return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}

    hdr('{"a": {"dtype": "F32", "shape": [2, 2], ', "st_bad_json")
    hdr('[1, 2, 3]', "st_not_object")
    hdr({"a": entry(dtype="F17")}, "st_unknown_dtype")
    hdr({"a": entry(shape=(2**62, 2**62))}, "st_overflow_shape")
    hdr({"a": entry(shape=(2**40, 2**40, 2**40))}, "st_overflow_shape3")
    hdr({"a": entry(shape=(-1, 4))}, "st_negative_dim")
    hdr({"a": entry(shape=(3, 2))}, "st_size_mismatch")
    hdr({"a": entry(), "b": entry(shape=(2,), offsets=(8, 16))}, "st_overlap")
    hdr({"a": entry(shape=(2, 4), offsets=(0, 32))}, "st_outside")
    hdr({"a": entry(shape=(0,), offsets=(16, 8))}, "st_begin_after_end")
    hdr({"a": entry(shape=(1,) * 9, offsets=(0, 4))}, "st_rank9")
    hdr({"a": {"dtype": "F32", "shape": [2, 2]}}, "st_missing_offsets")
    hdr({"__metadata__": {"epoch": 3}, "a": entry()}, "st_bad_metadata")
    hdr({"a": entry(shape=(2, "x"))}, "st_shape_not_int")
    out.write("bad/st_empty.safetensors", b"")
    # Sharded indexes: a tensor its shard lacks; a shard that does not exist.
    for folder, wmap in [("bad/sharded_missing_tensor",
                          {"a": "s1.safetensors", "ghost": "s1.safetensors"}),
                         ("bad/sharded_missing_shard", {"a": "s1.safetensors",
                                                        "b": "s2.safetensors"}),
                         ("bad/sharded_escape", {"a": "../s1.safetensors"})]:
        out.write(f"{folder}/s1.safetensors", ww.safetensors_bytes(w[:1]))
        out.write(f"{folder}/model.safetensors.index.json",
                  json.dumps({"weight_map": wmap}).encode())
    out.write("bad/two_files/a.safetensors", ww.safetensors_bytes(w[:1]))
    out.write("bad/two_files/b.safetensors", ww.safetensors_bytes(w[:1]))
    os.makedirs(out.path("bad/empty_folder/x"), exist_ok=True)


# ---------------------------------------------------------------------------------------------

def gguf_tensor(rng, name, tname, shape):
    """(writer tuple, manifest tuple) for a tensor of ggml type tname, PyTorch-order shape."""
    _, block_elems, _ = ww.GGML[tname]
    n = int(np.prod(shape))
    if block_elems > 1:
        blocks = ww.random_blocks(rng, tname, n // block_elems)
        raw = blocks.tobytes()
        want = blocks.reshape(-1)
        deq = ww.dequantize(tname, blocks)
        return (name, tname, shape, raw), (name, tname.lower(), shape, want, deq)
    np_t = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I8": np.int8,
            "I16": np.int16, "I32": np.int32, "I64": np.int64}
    if tname == "BF16":
        arr = (rng.standard_normal(shape).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    elif tname.startswith("I"):
        arr = rng.integers(-100, 100, shape).astype(np_t[tname])
    else:
        arr = rng.standard_normal(shape).astype(np_t[tname])
    return (name, tname, shape, arr.tobytes()), (name, tname.lower(), shape, raw_view(arr))


def make_gguf(out, rng):
    specs = [("blocks.0.ffn.0.weight", "F32", (3, 5)),
             ("patch_embedding.weight", "F32", (4, 2, 1, 2, 2)),  # 5-D, as ComfyUI-GGUF adds
             ("blocks.0.self_attn.q.weight", "F16", (2, 64)),
             ("text_embedding.0.weight", "BF16", (3, 32)),
             ("q8", "Q8_0", (2, 64)), ("q4", "Q4_0", (3, 32)), ("q4k", "Q4_K", (2, 256)),
             ("q5k", "Q5_K", (1, 512)), ("q6k", "Q6_K", (2, 256)), ("i32", "I32", (7,)),
             ("i8", "I8", (3,)), ("f64", "F64", (3,)), ("i64", "I64", (2,)),
             ("i16", "I16", (3,))]
    written, expect = zip(*[gguf_tensor(rng, *s) for s in specs])
    tokens = [f"tok{i}" for i in range(100)] + ["", "a,b", "é"]
    kvs = [("general.architecture", ww.GGUF_STRING, "wan"),
           ("general.alignment", ww.GGUF_U32, 64),
           ("test.u8", ww.GGUF_U8, 200), ("test.i8", ww.GGUF_I8, -100),
           ("test.u16", ww.GGUF_U16, 60000), ("test.i16", ww.GGUF_I16, -30000),
           ("test.i32", ww.GGUF_I32, -2000000000), ("test.f32", ww.GGUF_F32, 0.125),
           ("test.bool", ww.GGUF_BOOL, 1), ("test.u64", ww.GGUF_U64, 2**63 + 1),
           ("test.i64", ww.GGUF_I64, -2**62), ("test.f64", ww.GGUF_F64, 3.5),
           ("test.short_ints", ww.GGUF_ARRAY, (ww.GGUF_I32, [1, -2, 3])),
           ("test.short_strings", ww.GGUF_ARRAY, (ww.GGUF_STRING, ["x", 'say "hi"'])),
           ("test.nested", ww.GGUF_ARRAY, (ww.GGUF_ARRAY, [(ww.GGUF_U8, [1, 2]),
                                                           (ww.GGUF_U8, [])])),
           ("tokenizer.ggml.tokens", ww.GGUF_ARRAY, (ww.GGUF_STRING, tokens)),
           ("tokenizer.ggml.scores", ww.GGUF_ARRAY, (ww.GGUF_F32, [0.5] * 40))]
    meta = {"general.architecture": "wan", "general.alignment": "64", "test.u8": "200",
            "test.i8": "-100", "test.u16": "60000", "test.i16": "-30000",
            "test.i32": "-2000000000", "test.f32": "0.125", "test.bool": "true",
            "test.u64": str(2**63 + 1), "test.i64": str(-2**62), "test.f64": "3.5",
            "test.short_ints": "[1, -2, 3]", "test.short_strings": '["x", "say \\"hi\\""]',
            "test.nested": "[[1, 2], []]", "tokenizer.ggml.tokens": "[array of 103 string]",
            "tokenizer.ggml.scores": "[array of 40 f32]"}
    good = ww.gguf_bytes(kvs, list(written), alignment=64)
    out.write("gguf/model.gguf", good)
    out.expect("gguf/model.gguf", "gguf", list(expect), meta,
               {"tokenizer.ggml.tokens": tokens, "test.short_strings": ["x", 'say "hi"']})

    # v2, default alignment (32), no alignment key.
    w2, e2 = zip(*[gguf_tensor(rng, "a", "F32", (3,)), gguf_tensor(rng, "b", "Q8_0", (32,))])
    out.write("gguf/v2.gguf", ww.gguf_bytes([("general.name", ww.GGUF_STRING, "v2")],
                                            list(w2), version=2))
    out.expect("gguf/v2.gguf", "gguf", list(e2), {"general.name": "v2"})

    # Corrupt variants.
    for cut in (2, 10, 30, 200, len(good) // 2, len(good) - 1):
        out.write(f"bad/gguf_trunc_{cut}.gguf", good[:cut])
    small = [w2[0], w2[1]]
    kv1 = [("general.name", ww.GGUF_STRING, "x")]

    def bad(name, kvs_=kv1, tensors=small, **kw):
        out.write(f"bad/{name}.gguf", ww.gguf_bytes(kvs_, tensors, **kw))

    bad("gguf_tensor_count", tensor_count=2**60)
    bad("gguf_kv_count", kv_count=2**61 + 3)
    bad("gguf_type_id", type_ids=[None, 99])
    bad("gguf_type_q2k", type_ids=[None, 10])
    bad("gguf_misaligned", offsets=[None, 40])
    bad("gguf_outside", offsets=[None, 1 << 20])
    bad("gguf_offset_overflow", offsets=[None, 2**64 - 32])
    bad("gguf_overlap", offsets=[None, 0])
    bad("gguf_version1", version=1)
    bad("gguf_version7", version=7)
    bad("gguf_rank9", tensors=[("r9", "F32", (1,) * 9, bytes(4))])
    bad("gguf_partial_block", tensors=[("q", "Q8_0", (48,), bytes(34 + 17))])
    bad("gguf_dim_overflow", tensors=[("big", "F32", (2**40, 2**40), bytes(4))])
    bad("gguf_alignment", kvs_=[("general.alignment", ww.GGUF_U32, 24)])
    bad("gguf_alignment_type", kvs_=[("general.alignment", ww.GGUF_F32, 32.0)])
    bad("gguf_bool", kvs_=[("flag", ww.GGUF_BOOL, 2)])
    bad("gguf_dup_key", kvs_=kv1 + kv1)
    bad("gguf_dup_tensor", tensors=[w2[0], w2[0]])
    # Hand-patched: a key whose length is absurd; an array whose count is absurd; a nested
    # array deeper than the reader allows; an unknown value type.
    hdr = b"GGUF" + struct.pack("<IQQ", 3, 0, 1)
    out.write("bad/gguf_string_len.gguf", hdr + struct.pack("<Q", 2**62) + b"key" + bytes(64))
    out.write("bad/gguf_array_count.gguf",
              hdr + ww.gguf_string("arr") + struct.pack("<IIQ", ww.GGUF_ARRAY, ww.GGUF_U64,
                                                        2**62) + bytes(64))
    nested = struct.pack("<IQ", ww.GGUF_U8, 0)
    for _ in range(12):
        nested = struct.pack("<IQ", ww.GGUF_ARRAY, 1) + nested
    out.write("bad/gguf_deep_array.gguf",
              hdr + ww.gguf_string("deep") + struct.pack("<I", ww.GGUF_ARRAY) + nested)
    out.write("bad/gguf_value_type.gguf",
              hdr + ww.gguf_string("weird") + struct.pack("<I", 13) + bytes(8))
    out.write("bad/gguf_big_endian.gguf", b"GGUF" + struct.pack(">IQQ", 3, 0, 0))


# ---------------------------------------------------------------------------------------------

def torch_save_bytes(obj, name, **kw):
    """torch.save through a real file named `name`: torch 1.x names the archive folder after the
    file's stem (torch 2.x, and 1.x writing to a buffer, use "archive")."""
    path = os.path.join(TMP, name)
    torch.save(obj, path, **kw)
    with open(path, "rb") as f:
        data = f.read()
    os.remove(path)
    return data


def zip_entries(data):
    z = zipfile.ZipFile(io.BytesIO(data))
    return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def expect_torch(flat):
    return [(name, TORCH_DTYPES[t.dtype], tuple(t.shape), torch_raw(t)) for name, t in flat]


def make_pytorch(out, g):
    def randn(*shape):
        return torch.randn(*shape, generator=g)

    base = randn(4, 3)
    basic = {"f32": randn(3, 4), "f16": randn(5).half(), "bf16": randn(2, 3).bfloat16(),
             "i64": torch.randint(-2**40, 2**40, (4,), generator=g),
             "i32": torch.randint(-1000, 1000, (2, 2), generator=g, dtype=torch.int32),
             "i16": torch.randint(-1000, 1000, (3,), generator=g, dtype=torch.int16),
             "i8": torch.randint(-100, 100, (3,), generator=g, dtype=torch.int8),
             "u8": torch.randint(0, 255, (3,), generator=g, dtype=torch.uint8),
             "mask": torch.rand(5, generator=g) > 0.5, "f64": randn(2).double(),
             "scalar": torch.tensor(3.5), "empty": torch.zeros(0, 3),
             "video": randn(1, 2, 1, 2, 3),
             # Two views of one storage: a row at a non-zero offset, and the whole.
             "base": base, "row2": base[2], "col0": randn(3, 1)}
    data = torch_save_bytes(basic, "basic.pt")
    out.write("pt/basic.pt", data)
    out.expect("pt/basic.pt", "pytorch", expect_torch(basic.items()))

    ordered = collections.OrderedDict([("z.weight", randn(2, 2)), ("a.bias", randn(2))])
    out.write("pt/ordered.pth", torch_save_bytes(ordered, "ordered.pth"))
    out.expect("pt/ordered.pth", "pytorch", expect_torch(ordered.items()))

    inner = {"w": randn(2, 3), "sub": {"b": randn(3).bfloat16()}}
    tl = [randn(2), randn(1, 2)]
    nested = {"model": inner, "epoch": 7, "lr": 0.5, "name": "run", "flag": True,
              "list": tl, "none": None}
    out.write("pt/nested.pt", torch_save_bytes(nested, "nested.pt"))
    out.expect("pt/nested.pt", "pytorch",
               expect_torch([("model.w", inner["w"]), ("model.sub.b", inner["sub"]["b"]),
                             ("list.0", tl[0]), ("list.1", tl[1])]),
               {"epoch": "7", "lr": "0.5", "name": "run", "flag": "true"})

    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3),
                                torch.nn.Conv3d(2, 2, (1, 2, 2))).to(torch.bfloat16)
    model.register_buffer("steps", torch.arange(5))
    sd = model.state_dict()
    out.write("pt/module.pth", torch_save_bytes(sd, "module.pth"))
    out.expect("pt/module.pth", "pytorch", expect_torch(sd.items()))
    params = {"p": torch.nn.Parameter(randn(2, 2)), "q": torch.nn.Parameter(randn(3).half())}
    out.write("pt/params.pt", torch_save_bytes(params, "params.pt"))
    out.expect("pt/params.pt", "pytorch", expect_torch(params.items()))

    # The same archive with every ZIP64 structure, and the folder named "archive" as torch 2.x
    # does. Python's zipfile must agree that it is a valid archive.
    entries = [("archive/" + n.split("/", 1)[1], b) for n, b in zip_entries(data)]
    z64 = ww.zip_bytes(entries, zip64=True)
    assert zipfile.ZipFile(io.BytesIO(z64)).testzip() is None
    out.write("pt/zip64.pt", z64)
    out.expect("pt/zip64.pt", "pytorch", expect_torch(basic.items()))

    # An archive comment after the end-of-central-directory record.
    comment = b"kinema test comment"
    out.write("pt/comment.pt", data[:-2] + struct.pack("<H", len(comment)) + comment)
    out.expect("pt/comment.pt", "pytorch", expect_torch(basic.items()))

    # Corrupt variants.
    for cut in (10, 100, len(data) // 2, len(data) - 10):
        out.write(f"bad/pt_trunc_{cut}.pt", data[:cut])
    small = torch_save_bytes({"a": randn(2, 3)}, "small.pt")
    se = zip_entries(small)  # small/data.pkl, small/data/0, small/version
    out.write("bad/pt_compressed.pt", ww.zip_bytes([(se[0][0], se[0][1], 8)] + se[1:]))
    out.write("bad/pt_no_pickle.pt", ww.zip_bytes([("small/version", b"3\n")]))
    out.write("bad/pt_missing_storage.pt", ww.zip_bytes([se[0], se[2]]))
    out.write("bad/pt_short_storage.pt", ww.zip_bytes([se[0], (se[1][0], se[1][1][:20]), se[2]]))
    out.write("bad/pt_big_endian.pt", ww.zip_bytes(se + [("small/byteorder", b"big")]))
    out.write("bad/pt_noncontiguous.pt", torch_save_bytes({"t": randn(3, 4).t()}, "nc.pt"))
    out.write("bad/pt_legacy.pt", torch_save_bytes({"a": randn(2)}, "legacy.pt",
                                                   _use_new_zipfile_serialization=False))
    st = se[1][1]

    def pickled(name, asm, storage=st):
        program = asm if isinstance(asm, bytes) else asm.bytes()
        out.write(f"bad/{name}.pt", ww.zip_bytes([("x/data.pkl", program),
                                                  ("x/data/0", storage), ("x/version", b"3\n")]))

    def one_tensor(**kw):
        args = dict(storage_type="FloatStorage", key="0", numel=6, offset=0, size=(2, 3),
                    stride=(3, 1))
        args.update(kw)
        return ww.PickleAsm().op(b"}").string("a").tensor(**args).op(b"s")

    pickled("pt_ok_handmade", one_tensor())
    pickled("pt_offset_outside", one_tensor(offset=4))
    pickled("pt_numel_overflow", one_tensor(size=(2**62, 8), stride=(8, 1)))
    pickled("pt_storage_numel", one_tensor(numel=2**61))
    pickled("pt_bad_storage_type", one_tensor(storage_type="ComplexFloatStorage"))
    pickled("pt_missing_key", one_tensor(key="7"))
    pickled("pt_os_system", ww.PickleAsm().glob("os", "system").string("echo pwned")
            .op(b"\x85R"))
    pickled("pt_eval", ww.PickleAsm().glob("builtins", "eval").string("1+1").op(b"\x85R"))
    pickled("pt_stack_global", ww.PickleAsm().string("subprocess").string("Popen")
            .op(b"\x93").string("ls").op(b"\x85R"))
    pickled("pt_bad_opcode", ww.PickleAsm().op(b"}\xff"))
    pickled("pt_no_stop", b"\x80\x02}")
    pickled("pt_stack_underflow", ww.PickleAsm().op(b"s"))
    pickled("pt_bad_memo", ww.PickleAsm().op(b"h\x05"))
    pickled("pt_cycle", ww.PickleAsm().op(b"]q\x00h\x00a"))  # l = []; l.append(l)
    pickled("pt_call_storage", ww.PickleAsm().glob("torch", "FloatStorage").op(b")R"))
    # Shared references doubling at each level: 2^40 leaves if flattened naively.
    asm = ww.PickleAsm().op(b"]")
    for _ in range(40):
        asm.op(b"q\x00(h\x00h\x00l")  # memo the list, then a new list holding it twice
    pickled("pt_shared_blowup", asm)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    root = ap.parse_args().out
    if os.path.isdir(root):
        shutil.rmtree(root)
    os.makedirs(root)
    out = Out(root)
    global TMP
    TMP = out.path("tmp/")
    rng = np.random.default_rng(2024)
    torch.manual_seed(0)
    make_safetensors(out, rng)
    make_gguf(out, rng)
    make_pytorch(out, torch.Generator().manual_seed(7))
    os.rmdir(TMP)
    with open(os.path.join(root, "manifest.json"), "w") as f:
        json.dump(out.manifest, f, indent=1)


if __name__ == "__main__":
    main()
