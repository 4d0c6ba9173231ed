"""Small, independent writers for the weight formats Kinema reads (safetensors, GGUF, stored ZIP
archives, hand-assembled pickles) and a numpy reference for the GGUF block formats. Used by
ref_weights.py (test data) and fuzz/make_corpus.py (seed corpus). Written from the format
descriptions, not from the libraries, so that the C++ readers are checked against a second
implementation."""
import json
import struct
import zlib

import numpy as np

# ---------------------------------------------------------------------------------------------
# safetensors

ST_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
             "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def safetensors_bytes(tensors, metadata=None, header=None):
    """tensors: list of (name, dtype string, shape, raw bytes), laid out in order.
    header: an explicit header dict (or raw str) replacing the computed one, for corrupt files.
    The JSON is padded with spaces to a multiple of 8 bytes, as the reference writer does."""
    entries = {}
    data = bytearray()
    for name, dtype, shape, raw in tensors:
        entries[name] = {"dtype": dtype, "shape": list(shape),
                         "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata is not None:
        entries = {"__metadata__": metadata, **entries}
    if header is None:
        header = entries
    text = header if isinstance(header, str) else json.dumps(header, separators=(",", ":"))
    text = text.encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + bytes(data)


# ---------------------------------------------------------------------------------------------
# GGUF

GGUF_U8, GGUF_I8, GGUF_U16, GGUF_I16, GGUF_U32, GGUF_I32, GGUF_F32, GGUF_BOOL, GGUF_STRING, \
    GGUF_ARRAY, GGUF_U64, GGUF_I64, GGUF_F64 = range(13)
_SCALAR_FMT = {GGUF_U8: "<B", GGUF_I8: "<b", GGUF_U16: "<H", GGUF_I16: "<h", GGUF_U32: "<I",
               GGUF_I32: "<i", GGUF_F32: "<f", GGUF_BOOL: "<B", GGUF_U64: "<Q", GGUF_I64: "<q",
               GGUF_F64: "<d"}

# ggml type ids and (block elements, block bytes)
GGML = {"F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_0": (2, 32, 18), "Q8_0": (8, 32, 34),
        "Q4_K": (12, 256, 144), "Q5_K": (13, 256, 176), "Q6_K": (14, 256, 210),
        "I8": (24, 1, 1), "I16": (25, 1, 2), "I32": (26, 1, 4), "I64": (27, 1, 8),
        "F64": (28, 1, 8), "BF16": (30, 1, 2)}


def gguf_string(s):
    b = s if isinstance(s, bytes) else s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_value(vtype, value):
    if vtype == GGUF_STRING:
        return gguf_string(value)
    if vtype == GGUF_ARRAY:
        elem, items = value
        out = struct.pack("<IQ", elem, len(items))
        return out + b"".join(gguf_value(elem, v) for v in items)
    return struct.pack(_SCALAR_FMT[vtype], value)


def gguf_bytes(kvs, tensors, alignment=32, version=3, tensor_count=None, kv_count=None,
               offsets=None, type_ids=None):
    """kvs: list of (key, type, value). tensors: list of (name, ggml type name, PyTorch-order
    shape, raw bytes). Dims are written reversed (ne[0] innermost). The overrides make corrupt
    files: counts, per-tensor offsets and type ids."""
    out = b"GGUF" + struct.pack("<IQQ", version,
                                len(tensors) if tensor_count is None else tensor_count,
                                len(kvs) if kv_count is None else kv_count)
    for key, vtype, value in kvs:
        out += gguf_string(key) + struct.pack("<I", vtype) + gguf_value(vtype, value)
    data = b""
    for i, (name, tname, shape, raw) in enumerate(tensors):
        data += b"\0" * (-len(data) % alignment)
        offset = len(data) if offsets is None or offsets[i] is None else offsets[i]
        type_id = GGML[tname][0] if type_ids is None or type_ids[i] is None else type_ids[i]
        out += gguf_string(name) + struct.pack("<I", len(shape))
        out += b"".join(struct.pack("<Q", d) for d in reversed(shape))
        out += struct.pack("<IQ", type_id, offset)
        data += raw
    out += b"\0" * (-len(out) % alignment)
    return out + data


def random_blocks(rng, tname, n_blocks):
    """Random block bytes with finite, moderate f16 scales (the only fields where random bits
    could make NaN/inf)."""
    _, _, block_bytes = GGML[tname]
    b = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)

    def put_f16(col):
        v = (rng.standard_normal(n_blocks) * 0.05).astype(np.float16)
        b[:, col:col + 2] = v.view(np.uint8).reshape(n_blocks, 2)

    if tname in ("Q8_0", "Q4_0"):
        put_f16(0)
    elif tname in ("Q4_K", "Q5_K"):
        put_f16(0)
        put_f16(2)
    elif tname == "Q6_K":
        put_f16(208)
    return b


def _f16(b, col):
    return b[:, col:col + 2].copy().view(np.float16).astype(np.float32)  # (n, 1)


def _k_scale_min(s):
    """s: (n, 12) packed 6-bit scales/mins -> (n, 8) scales, (n, 8) mins (uint8)."""
    sc = np.empty((s.shape[0], 8), np.uint8)
    mn = np.empty((s.shape[0], 8), np.uint8)
    for j in range(8):
        if j < 4:
            sc[:, j] = s[:, j] & 63
            mn[:, j] = s[:, j + 4] & 63
        else:
            sc[:, j] = (s[:, j + 4] & 0xF) | ((s[:, j - 4] >> 6) << 4)
            mn[:, j] = (s[:, j + 4] >> 4) | ((s[:, j] >> 6) << 4)
    return sc, mn


def dequantize(tname, b):
    """(n_blocks, block_bytes) uint8 -> flat float32, following ggml's block layouts. Products
    are formed as (d * scale) * q - (dmin * min), each step rounded to float32."""
    f32 = np.float32
    n = b.shape[0]
    if tname == "Q8_0":
        return (_f16(b, 0) * b[:, 2:].view(np.int8).astype(f32)).reshape(-1)
    if tname == "Q4_0":
        q = b[:, 2:]
        vals = np.concatenate([(q & 15).astype(f32) - 8, (q >> 4).astype(f32) - 8], axis=1)
        return (_f16(b, 0) * vals).reshape(-1)
    if tname in ("Q4_K", "Q5_K"):
        d, dmin = _f16(b, 0), _f16(b, 2)
        sc, mn = _k_scale_min(b[:, 4:16])
        qh = b[:, 16:48] if tname == "Q5_K" else None
        qs = b[:, 48:176] if tname == "Q5_K" else b[:, 16:144]
        y = np.empty((n, 256), f32)
        for j in range(8):
            ql = qs[:, 32 * (j // 2):32 * (j // 2) + 32]
            q = (ql & 15) if j % 2 == 0 else (ql >> 4)
            q = q.astype(f32)
            if qh is not None:
                q = q + np.where(qh & (1 << j), f32(16), f32(0))
            scale = d * sc[:, j:j + 1].astype(f32)
            m = dmin * mn[:, j:j + 1].astype(f32)
            y[:, 32 * j:32 * j + 32] = scale * q - m
        return y.reshape(-1)
    if tname == "Q6_K":
        ql, qh = b[:, :128].astype(np.int32), b[:, 128:192].astype(np.int32)
        sc = b[:, 192:208].view(np.int8).astype(f32)
        d = _f16(b, 208)
        y = np.empty((n, 256), f32)
        for half in range(2):
            L, H = ql[:, 64 * half:64 * half + 64], qh[:, 32 * half:32 * half + 32]
            for l in range(32):
                q = [((L[:, l] & 15) | ((H[:, l] & 3) << 4)) - 32,
                     ((L[:, l + 32] & 15) | (((H[:, l] >> 2) & 3) << 4)) - 32,
                     ((L[:, l] >> 4) | (((H[:, l] >> 4) & 3) << 4)) - 32,
                     ((L[:, l + 32] >> 4) | (((H[:, l] >> 6) & 3) << 4)) - 32]
                for k in range(4):
                    s = sc[:, 8 * half + l // 16 + 2 * k]
                    y[:, 128 * half + 32 * k + l] = (d[:, 0] * s) * q[k].astype(f32)
        return y.reshape(-1)
    raise ValueError(tname)


# ---------------------------------------------------------------------------------------------
# ZIP (stored or deflated entries; optionally every ZIP64 structure even when not needed)

def zip_bytes(entries, zip64=False):
    """entries: list of (name, data) or (name, data, method) with method 0 (stored) or 8."""
    out = bytearray()
    central = bytearray()
    for entry in entries:
        name, data = entry[0], entry[1]
        method = entry[2] if len(entry) > 2 else 0
        nb = name.encode()
        if method == 8:
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            comp = c.compress(data) + c.flush()
        else:
            comp = data
        crc = zlib.crc32(data)
        offset = len(out)
        version = 45 if zip64 else 20
        if zip64:
            local_extra = struct.pack("<HHQQ", 1, 16, len(data), len(comp))
            sizes = (0xFFFFFFFF, 0xFFFFFFFF)
        else:
            local_extra = b""
            sizes = (len(comp), len(data))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, version, 0, method, 0, 0x21, crc,
                           sizes[0], sizes[1], len(nb), len(local_extra)) + nb + local_extra + comp
        if zip64:
            cextra = struct.pack("<HHQQQ", 1, 24, len(data), len(comp), offset)
            csz, usz, off = 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF
        else:
            cextra = b""
            csz, usz, off = len(comp), len(data), offset
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, version, version, 0, method, 0,
                               0x21, crc, csz, usz, len(nb), len(cextra), 0, 0, 0, 0, off)
        central += nb + cextra
    cd_offset = len(out)
    out += central
    n = len(entries)
    if zip64:
        record = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(central),
                           cd_offset)
        out += struct.pack("<IIQI", 0x07064B50, 0, record, 1)
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                           0xFFFFFFFF, 0)
    else:
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(central), cd_offset, 0)
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# Hand-assembled pickles (protocol 2 opcodes, as torch.save emits them)

class PickleAsm:
    def __init__(self):
        self.b = bytearray(b"\x80\x02")

    def op(self, raw):
        self.b += raw
        return self

    def mark(self):
        return self.op(b"(")

    def string(self, s):
        e = s.encode()
        return self.op(b"X" + struct.pack("<I", len(e)) + e)

    def int(self, v):
        if 0 <= v < 256:
            return self.op(b"K" + bytes([v]))
        if -2**31 <= v < 2**31:
            return self.op(b"J" + struct.pack("<i", v))
        return self.op(b"\x8a\x08" + struct.pack("<q", v))

    def glob(self, module, name):
        return self.op(b"c" + module.encode() + b"\n" + name.encode() + b"\n")

    def tuple_of_ints(self, values):
        self.mark()
        for v in values:
            self.int(v)
        return self.op(b"t")

    def tensor(self, storage_type, key, numel, offset, size, stride):
        """_rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict())"""
        self.glob("torch._utils", "_rebuild_tensor_v2").mark()
        self.mark().string("storage").glob("torch", storage_type).string(key).string("cpu")
        self.int(numel).op(b"t").op(b"Q")
        self.int(offset).tuple_of_ints(size).tuple_of_ints(stride).op(b"\x89")
        self.glob("collections", "OrderedDict").op(b")R")
        return self.op(b"tR")

    def bytes(self):
        return bytes(self.b + b".")
