// Valid weight files written by tests/io/ref_weights.py: every tensor's dtype, shape and bytes
// must match the manifest exactly, be a view into the mapping (zero copy), and GGUF block types
// must dequantize to the numpy reference values bit for bit.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "common/refdata.h"
#include "core/quant.h"
#include "io/weight_file.h"

namespace kinema {
namespace {

using json = nlohmann::json;

std::string io_path(const std::string& name) { return test::ref_path("io", name); }

const json& manifest() {
  static const json m = [] {
    std::ifstream in(io_path("manifest.json"));
    if (!in)
      fail(io_path("manifest.json"), ": missing (run ctest so that the refdata fixture runs)");
    return json::parse(in);
  }();
  return m;
}

bool inside(const TensorInfo& info, const MappedFile& file) {
  return info.data >= file.data() && info.data + info.nbytes <= file.data() + file.size();
}

// Loads manifest entry `key` into *out and checks everything the manifest says about it.
void check_manifest(const std::string& key, std::unique_ptr<WeightFile>* out) {
  const json& spec = manifest().at(key);
  *out = WeightFile::open(io_path(key));
  const auto& wf = *out;
  EXPECT_EQ(wf->format(), spec["format"].get<std::string>());

  std::set<std::string> want_names, got_names;
  for (const json& t : spec["tensors"]) want_names.insert(t["name"].get<std::string>());
  for (const TensorInfo& t : wf->tensors()) got_names.insert(t.name);
  EXPECT_EQ(got_names, want_names);

  for (const json& t : spec["tensors"]) {
    std::string name = t["name"];
    SCOPED_TRACE(key + ": " + name);
    const TensorInfo* info = wf->find(name);
    if (!info) continue;  // reported by the name-set comparison
    EXPECT_EQ(kinema::name(info->dtype), t["dtype"].get<std::string>());
    EXPECT_EQ(info->shape.vec(), t["shape"].get<std::vector<int64_t>>());
    Tensor want = test::load_npy(io_path("expect/" + t["bytes"].get<std::string>()));
    ASSERT_EQ(info->nbytes, want.nbytes());
    EXPECT_EQ(std::memcmp(info->data, want.raw(), want.nbytes()), 0) << "bytes differ";
    const MappedFile& file = *wf->files().at(size_t(info->file_index));
    EXPECT_TRUE(inside(*info, file)) << "not a view of " << file.path();
    Tensor view = wf->tensor(name);
    EXPECT_EQ(view.raw(), static_cast<const void*>(info->data));
    EXPECT_FALSE(view.writable());
    if (t.contains("f32")) {
      // Block formats: core's dequantize_row against the numpy implementation, exactly (both
      // round each product to f32 in the same order; the generic build has no FMA contraction).
      Tensor deq = test::load_npy(io_path("expect/" + t["f32"].get<std::string>()));
      std::vector<float> got = view.to_f32_vector();
      ASSERT_EQ(int64_t(got.size()), deq.numel());
      int mismatches = 0;
      for (size_t i = 0; i < got.size(); ++i)
        if (got[i] != deq.data<float>()[i] && mismatches++ < 5)
          ADD_FAILURE() << "value " << i << ": " << got[i] << " != " << deq.data<float>()[i];
      EXPECT_EQ(mismatches, 0);
    }
  }
  std::map<std::string, std::string> want_meta = spec["metadata"];
  EXPECT_EQ(wf->metadata(), want_meta);
  for (const auto& [array_key, values] : spec["string_arrays"].items()) {
    const auto* got = wf->string_array(array_key);
    ASSERT_NE(got, nullptr) << array_key;
    std::vector<std::string> got_strings(got->begin(), got->end());
    EXPECT_EQ(got_strings, values.get<std::vector<std::string>>());
  }
}

std::unique_ptr<WeightFile> check_against_manifest(const std::string& key) {
  SCOPED_TRACE(key);
  std::unique_ptr<WeightFile> wf;
  check_manifest(key, &wf);
  if (!wf) throw std::runtime_error(key + ": not loaded");
  return wf;
}

TEST(Safetensors, AllDtypesMatchExpectedBytes) {
  auto wf = check_against_manifest("st/basic.safetensors");
  EXPECT_EQ(wf->find("scalar")->shape.rank(), 0);
  EXPECT_EQ(wf->find("empty")->nbytes, 0u);
  // Tensors come in file order, so a sequential load reads front to back.
  for (size_t i = 1; i < wf->tensors().size(); ++i)
    EXPECT_LE(wf->tensors()[i - 1].data, wf->tensors()[i].data);
}

TEST(Safetensors, ShardedIndexOpensEachShardOnce) {
  auto wf = check_against_manifest("sharded/model.safetensors.index.json");
  ASSERT_EQ(wf->files().size(), 2u);
  EXPECT_NE(wf->find("blocks.0.weight")->file_index, wf->find("ids")->file_index);
}

TEST(Safetensors, FolderFindsTheIndex) {
  auto wf = WeightFile::open(io_path("sharded"));
  EXPECT_EQ(wf->tensors().size(), 8u);
  EXPECT_EQ(wf->path(), io_path("sharded/model.safetensors.index.json"));
}

TEST(Safetensors, FolderWithOneFile) { check_against_manifest("single"); }

TEST(Gguf, V3AllTypesAndMetadata) {
  auto wf = check_against_manifest("gguf/model.gguf");
  // general.alignment = 64: every tensor starts on a 64-byte boundary of the file.
  for (const TensorInfo& t : wf->tensors())
    EXPECT_EQ((t.data - wf->files()[0]->data()) % 64, 0) << t.name;
  EXPECT_EQ(wf->find("patch_embedding.weight")->shape, Shape({4, 2, 1, 2, 2}));
  EXPECT_EQ(wf->string_array("tokenizer.ggml.tokens")->size(), 103u);
  EXPECT_EQ(wf->string_array("general.architecture"), nullptr);
}

TEST(Gguf, V2WithDefaultAlignment) {
  auto wf = check_against_manifest("gguf/v2.gguf");
  for (const TensorInfo& t : wf->tensors())
    EXPECT_EQ((t.data - wf->files()[0]->data()) % 32, 0) << t.name;
}

TEST(PyTorch, AllDtypesAndSharedStorage) {
  auto wf = check_against_manifest("pt/basic.pt");
  // row2 = base[2]: the same storage, 6 floats further on.
  EXPECT_EQ(wf->find("row2")->data, wf->find("base")->data + 6 * sizeof(float));
}
TEST(PyTorch, OrderedDict) { check_against_manifest("pt/ordered.pth"); }
TEST(PyTorch, NestedDictsFlattenWithDots) { check_against_manifest("pt/nested.pt"); }
TEST(PyTorch, ModuleStateDict) { check_against_manifest("pt/module.pth"); }
TEST(PyTorch, Parameters) { check_against_manifest("pt/params.pt"); }
TEST(PyTorch, Zip64Archive) { check_against_manifest("pt/zip64.pt"); }
TEST(PyTorch, ZipWithComment) { check_against_manifest("pt/comment.pt"); }

TEST(PyTorch, HandMadePickle) {
  auto wf = WeightFile::open(io_path("bad/pt_ok_handmade.pt"));
  ASSERT_NE(wf->find("a"), nullptr);
  EXPECT_EQ(wf->find("a")->shape, Shape({2, 3}));
}

TEST(WeightFile, OpensFromMemory) {
  std::ifstream in(io_path("gguf/v2.gguf"), std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto wf = WeightFile::open(MappedFile::from_bytes("memory.gguf", bytes.data(), bytes.size()));
  EXPECT_EQ(wf->format(), "gguf");
  EXPECT_EQ(wf->tensors().size(), 2u);
  EXPECT_TRUE(inside(*wf->find("a"), *wf->files()[0]));
}

TEST(WeightFile, MissingTensorNamesTheFile) {
  auto wf = WeightFile::open(io_path("gguf/v2.gguf"));
  try {
    wf->tensor("nope");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("v2.gguf"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'nope'"), std::string::npos) << e.what();
  }
}

TEST(WeightFile, TensorsOutliveTheWeightFile) {
  Tensor t;
  {
    auto wf = WeightFile::open(io_path("st/basic.safetensors"));
    t = wf->tensor("blocks.0.weight");
  }
  Tensor want = test::load_npy(io_path("expect/st_basic.safetensors__blocks.0.weight.npy"));
  EXPECT_EQ(std::memcmp(t.raw(), want.raw(), want.nbytes()), 0);
}

}  // namespace
}  // namespace kinema
