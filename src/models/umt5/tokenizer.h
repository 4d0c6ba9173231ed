// The umT5 tokenizer as Wan uses it: prompt cleaning, sentencepiece unigram pieces from the
// `spiece.model` of google/umt5-xxl (through Debian's libsentencepiece), EOS appended,
// truncation to 512 tokens including EOS. No padding: the model pads its output itself.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace kinema {

class Tokenizer {
 public:
  static constexpr int kMaxTokens = 512;

  // Loads a sentencepiece model file; throws naming the path when it is not one.
  static std::unique_ptr<Tokenizer> load(const std::string& spiece_model_path);
  ~Tokenizer();

  // Token ids of the cleaned prompt: at most max_tokens - 1 pieces, then EOS.
  std::vector<int32_t> encode(std::string_view prompt, int max_tokens = kMaxTokens) const;
  // Pieces of the cleaned prompt before any truncation (EOS not counted).
  size_t count(std::string_view prompt) const;
  int vocab_size() const;
  int eos_id() const { return eos_id_; }

 private:
  Tokenizer() = default;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  int eos_id_ = 1;
};

}  // namespace kinema
