#include "models/umt5/tokenizer.h"

#include <sentencepiece_processor.h>

#include <filesystem>

#include "core/error.h"
#include "models/umt5/text_clean.h"

namespace kinema {

Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& path) {
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  t->sp_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    fail(printable(path), ": no such file (expected a sentencepiece tokenizer, spiece.model)");
  // sentencepiece's own status text is a source location; say what is wrong in our words.
  if (!t->sp_->Load(path).ok())
    fail(printable(path),
         ": not a sentencepiece tokenizer model (its contents do not parse as one)");
  t->eos_id_ = t->sp_->eos_id();
  if (t->eos_id_ < 0) fail(path, ": the tokenizer model defines no end-of-sequence piece");
  return t;
}

std::vector<int32_t> Tokenizer::encode(std::string_view prompt, int max_tokens) const {
  if (max_tokens < 1) fail("max_tokens must be at least 1, got ", max_tokens);
  std::vector<int> ids;
  if (!sp_->Encode(clean_prompt(prompt), &ids).ok())
    fail("the tokenizer could not split the prompt into pieces");
  if (ids.size() > size_t(max_tokens - 1)) ids.resize(size_t(max_tokens - 1));
  std::vector<int32_t> out(ids.begin(), ids.end());
  out.push_back(eos_id_);
  return out;
}

size_t Tokenizer::count(std::string_view prompt) const {
  std::vector<int> ids;
  if (!sp_->Encode(clean_prompt(prompt), &ids).ok())
    fail("the tokenizer could not split the prompt into pieces");
  return ids.size();
}

int Tokenizer::vocab_size() const { return sp_->GetPieceSize(); }

}  // namespace kinema
