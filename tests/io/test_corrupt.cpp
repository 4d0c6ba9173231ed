// Corrupt weight files (written by ref_weights.py under refdata/io/bad/): each must fail with an
// Error naming the file and the problem, never crash or allocate absurdly.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/refdata.h"
#include "io/weight_file.h"

namespace kinema {
namespace {

struct Case {
  const char* file;                // under refdata/io/bad/
  std::vector<const char*> words;  // all must appear in the message, besides the file name
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.file; }

class Corrupt : public ::testing::TestWithParam<Case> {};

TEST_P(Corrupt, FailsWithAClearMessage) {
  const Case& c = GetParam();
  std::string path = test::ref_path("io", std::string("bad/") + c.file);
  try {
    auto wf = WeightFile::open(path);
    FAIL() << c.file << " loaded " << wf->tensors().size() << " tensors instead of failing";
  } catch (const Error& e) {
    std::string msg = e.what();
    std::string base = std::string(c.file).substr(std::string(c.file).rfind('/') + 1);
    EXPECT_NE(msg.find(base), std::string::npos) << "message does not name the file: " << msg;
    for (const char* w : c.words)
      EXPECT_NE(msg.find(w), std::string::npos) << "no '" << w << "' in: " << msg;
  }
}

const Case kSafetensors[] = {
    {"st_trunc_4.safetensors", {"truncated", "header length"}},
    {"st_trunc_header.safetensors", {"header length 992 exceeds", "truncated"}},
    {"st_trunc_data.safetensors", {"tensor 'blocks.0.bias'", "past the data section"}},
    {"st_header_len.safetensors", {"header length 1099511627776 exceeds"}},
    {"st_header_huge.safetensors", {"header length 9223372036854775813 exceeds"}},
    {"st_empty.safetensors", {"truncated", "0 remain"}},
    {"st_bad_json.safetensors", {"not valid JSON", "parse error"}},
    {"st_not_object.safetensors", {"not a JSON object"}},
    {"st_unknown_dtype.safetensors", {"tensor 'a'", "unknown dtype \"F17\""}},
    {"st_overflow_shape.safetensors", {"tensor 'a'", "too large"}},
    {"st_overflow_shape3.safetensors", {"tensor 'a'", "too large"}},
    {"st_negative_dim.safetensors", {"tensor 'a'", "[-1,4]", "integers"}},
    {"st_shape_not_int.safetensors", {"tensor 'a'", "integers"}},
    {"st_size_mismatch.safetensors", {"tensor 'a'", "needs 24 bytes", "hold 16"}},
    {"st_overlap.safetensors", {"'a'", "'b'", "overlap"}},
    {"st_outside.safetensors", {"tensor 'a'", "past the data section"}},
    {"st_begin_after_end.safetensors", {"tensor 'a'", "end before they begin"}},
    {"st_rank9.safetensors", {"tensor 'a'", "9 dims"}},
    {"st_missing_offsets.safetensors", {"tensor 'a'", "no 'data_offsets'"}},
    {"st_bad_metadata.safetensors", {"__metadata__ 'epoch'", "must be a string"}},
    {"sharded_missing_tensor/model.safetensors.index.json", {"'ghost'", "does not hold it"}},
    {"sharded_missing_shard/model.safetensors.index.json", {"'s2.safetensors'", "does not exist"}},
    {"sharded_escape/model.safetensors.index.json", {"../s1.safetensors", "index's folder"}},
    {"two_files", {"several candidate", "a.safetensors", "b.safetensors"}},
    {"empty_folder", {"no weights in this folder"}},
};
INSTANTIATE_TEST_SUITE_P(Safetensors, Corrupt, ::testing::ValuesIn(kSafetensors));

const Case kGguf[] = {
    {"gguf_trunc_2.gguf", {"truncated", "GGUF"}},
    {"gguf_trunc_10.gguf", {"truncated", "tensor count"}},
    {"gguf_trunc_30.gguf", {"claims 14 tensors", "truncated"}},
    {"gguf_trunc_200.gguf", {"claims 14 tensors", "truncated"}},
    {"gguf_trunc_2531.gguf", {"truncated", "q5k"}},
    {"gguf_trunc_5061.gguf", {"tensor 'i16'", "past the end of the file", "truncated"}},
    {"gguf_tensor_count.gguf", {"claims 1152921504606846976 tensors"}},
    {"gguf_kv_count.gguf", {"claims 2305843009213693955 metadata entries"}},
    {"gguf_type_id.gguf", {"tensor 'b'", "ggml type 99"}},
    {"gguf_type_q2k.gguf", {"tensor 'b'", "ggml type 10 (Q2_K)"}},
    {"gguf_misaligned.gguf", {"tensor 'b'", "offset 40", "not a multiple of the alignment 32"}},
    {"gguf_outside.gguf", {"tensor 'b'", "past the end of the file"}},
    {"gguf_offset_overflow.gguf", {"tensor 'b'", "past the end of the file"}},
    {"gguf_overlap.gguf", {"'a'", "'b'", "overlap"}},
    {"gguf_version1.gguf", {"version 1"}},
    {"gguf_version7.gguf", {"version 7"}},
    {"gguf_big_endian.gguf", {"big-endian"}},
    {"gguf_rank9.gguf", {"tensor 'r9'", "9 dims"}},
    {"gguf_partial_block.gguf", {"tensor 'q'", "multiple of 32", "[48]"}},
    {"gguf_dim_overflow.gguf", {"tensor 'big'", "too large"}},
    {"gguf_alignment.gguf", {"general.alignment", "power of two", "24"}},
    {"gguf_alignment_type.gguf", {"general.alignment", "f32"}},
    {"gguf_bool.gguf", {"'flag'", "bool value 2"}},
    {"gguf_dup_key.gguf", {"'general.name'", "twice"}},
    {"gguf_dup_tensor.gguf", {"tensor 'a'", "twice"}},
    {"gguf_string_len.gguf", {"truncated", "metadata key", "4611686018427387904 bytes"}},
    {"gguf_array_count.gguf", {"'arr'", "array of 4611686018427387904 u64"}},
    {"gguf_deep_array.gguf", {"'deep'", "nested more than 8"}},
    {"gguf_value_type.gguf", {"'weird'", "unknown value type 13"}},
};
INSTANTIATE_TEST_SUITE_P(Gguf, Corrupt, ::testing::ValuesIn(kGguf));

const Case kPyTorch[] = {
    {"pt_trunc_10.pt", {"not a ZIP", "truncated"}},
    {"pt_trunc_100.pt", {"end-of-central-directory", "truncated"}},
    {"pt_trunc_2187.pt", {"end-of-central-directory", "truncated"}},
    {"pt_trunc_4364.pt", {"end-of-central-directory", "truncated"}},
    {"pt_os_system.pt", {"refusing to load", "global 'os.system'"}},
    {"pt_eval.pt", {"refusing to load", "global 'builtins.eval'"}},
    {"pt_stack_global.pt", {"refusing to load", "global 'subprocess.Popen'"}},
    {"pt_bad_storage_type.pt", {"refusing to load", "'torch.ComplexFloatStorage'"}},
    {"pt_call_storage.pt", {"'torch.FloatStorage' cannot be called"}},
    {"pt_compressed.pt", {"'small/data.pkl'", "compressed", "deflate"}},
    {"pt_no_pickle.pt", {"data.pkl", "not a PyTorch checkpoint"}},
    {"pt_missing_storage.pt", {"tensor 'a'", "'small/data/0' is missing"}},
    {"pt_missing_key.pt", {"tensor 'a'", "'x/data/7' is missing"}},
    {"pt_short_storage.pt", {"tensor 'a'", "6 f32 values", "20 bytes"}},
    {"pt_storage_numel.pt", {"tensor 'a'", "24 bytes"}},
    {"pt_offset_outside.pt", {"tensor 'a'", "offset 4", "past the end of its storage"}},
    {"pt_numel_overflow.pt", {"tensor 'a'", "too large"}},
    {"pt_noncontiguous.pt", {"tensor 't'", "not contiguous", "strides [1, 4]"}},
    {"pt_big_endian.pt", {"byte order", "big"}},
    {"pt_legacy.pt", {"legacy"}},
    {"pt_bad_opcode.pt", {"data.pkl", "opcode 0xff"}},
    {"pt_no_stop.pt", {"data.pkl", "truncated", "no STOP"}},
    {"pt_stack_underflow.pt", {"data.pkl", "stack is empty"}},
    {"pt_bad_memo.pt", {"data.pkl", "memo id 5"}},
    {"pt_cycle.pt", {"nests more than 64", "cycle"}},
    {"pt_shared_blowup.pt", {"share references"}},
};
INSTANTIATE_TEST_SUITE_P(PyTorch, Corrupt, ::testing::ValuesIn(kPyTorch));

}  // namespace
}  // namespace kinema
