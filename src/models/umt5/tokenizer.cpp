#include "models/umt5/tokenizer.h"

#include <sentencepiece_processor.h>

#include "core/error.h"
#include "models/umt5/text_clean.h"

namespace kinema {

Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& path) {
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  t->sp_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
  auto status = t->sp_->Load(path);
  if (!status.ok()) fail(path, ": not a sentencepiece tokenizer model (", status.ToString(), ")");
  t->eos_id_ = t->sp_->eos_id();
  if (t->eos_id_ < 0) fail(path, ": the tokenizer model defines no end-of-sequence piece");
  return t;
}

std::vector<int32_t> Tokenizer::encode(std::string_view prompt, int max_tokens) const {
  if (max_tokens < 1) fail("max_tokens must be at least 1, got ", max_tokens);
  std::vector<int> ids;
  auto status = sp_->Encode(clean_prompt(prompt), &ids);
  if (!status.ok()) fail("tokenizer failed on the prompt: ", status.ToString());
  if (ids.size() > size_t(max_tokens - 1)) ids.resize(size_t(max_tokens - 1));
  std::vector<int32_t> out(ids.begin(), ids.end());
  out.push_back(eos_id_);
  return out;
}

int Tokenizer::vocab_size() const { return sp_->GetPieceSize(); }

}  // namespace kinema
