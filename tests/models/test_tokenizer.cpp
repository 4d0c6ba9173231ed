#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/refdata.h"
#include "models/umt5/text_clean.h"
#include "models/umt5/tokenizer.h"

namespace kinema {
namespace {

nlohmann::json cases() {
  std::ifstream in(test::ref_path("models", "tokenizer_cases.json"));
  return nlohmann::json::parse(in);
}

TEST(TextClean, MatchesReferenceCleaning) {
  for (auto& c : cases())
    EXPECT_EQ(clean_prompt(c["prompt"].get<std::string>()), c["clean"].get<std::string>());
}

TEST(TextClean, HandlesInvalidUtf8AndEntities) {
  EXPECT_EQ(clean_prompt("a\xff b"), "a\xef\xbf\xbd b");
  EXPECT_EQ(clean_prompt("&unknown; &#xZZ; &"), "&unknown; &#xZZ; &");
  EXPECT_EQ(clean_prompt("&amp;lt;"), "<");
  EXPECT_EQ(clean_prompt(""), "");
}

TEST(Tokenizer, MatchesSentencepieceWithEosAndTruncation) {
  auto tok = Tokenizer::load(test::ref_path("models", "spiece.model"));
  EXPECT_EQ(tok->eos_id(), 1);
  for (auto& c : cases()) {
    auto want = c["ids"].get<std::vector<int32_t>>();
    auto got = tok->encode(c["prompt"].get<std::string>());
    EXPECT_EQ(got, want) << c["prompt"];
    EXPECT_LE(got.size(), 512u);
  }
  EXPECT_EQ(tok->encode("a red circle", 1), std::vector<int32_t>{1});
}

TEST(Tokenizer, RejectsANonModelFile) {
  try {
    Tokenizer::load(test::ref_path("models", "corpus.txt"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("corpus.txt"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("sentencepiece"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kinema
