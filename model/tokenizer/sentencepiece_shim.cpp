// A tiny plugin around SentencePiece, loaded by tokenizer.cpp with dlopen(RTLD_LOCAL | RTLD_DEEPBIND).
// Why: Debian's libsentencepiece bundles its own protobuf-lite and exports those symbols; linked into the same
// process as LibTorch's libprotobuf they interpose each other and the process crashes at start-up. Loaded
// privately, each library keeps its own protobuf. Both sides share one libstdc++, so std types cross the boundary.
// Nothing here may write to std::cerr: under RTLD_DEEPBIND the plugin sees libstdc++'s own std::cerr, not the
// executable's initialised copy. That rules out SentencePiece's trainer (it logs), so tokenizer training lives in
// wr-data, which does not link LibTorch.
#include <sentencepiece_processor.h>

#include <string>
#include <vector>

extern "C" {

// Returns a processor or null with *error set.
void* wr_spm_load(const std::string* bytes, std::string* error) {
  auto* sp = new sentencepiece::SentencePieceProcessor();
  auto status = sp->LoadFromSerializedProto(*bytes);
  if (!status.ok()) {
    *error = status.ToString();
    delete sp;
    return nullptr;
  }
  return sp;
}

void wr_spm_free(void* sp) { delete static_cast<sentencepiece::SentencePieceProcessor*>(sp); }

bool wr_spm_encode(void* sp, const std::string* text, std::vector<int>* ids, std::string* error) {
  auto status = static_cast<sentencepiece::SentencePieceProcessor*>(sp)->Encode(*text, ids);
  if (!status.ok()) *error = status.ToString();
  return status.ok();
}

bool wr_spm_decode(void* sp, const std::vector<int>* ids, std::string* text, std::string* error) {
  auto status = static_cast<sentencepiece::SentencePieceProcessor*>(sp)->Decode(*ids, text);
  if (!status.ok()) *error = status.ToString();
  return status.ok();
}

void wr_spm_piece(void* sp, int id, std::string* piece) {
  *piece = static_cast<sentencepiece::SentencePieceProcessor*>(sp)->IdToPiece(id);
}

// which: 0 vocab size, 1 bos id, 2 eos id, 3 unk id
int wr_spm_info(void* sp, int which) {
  auto* p = static_cast<sentencepiece::SentencePieceProcessor*>(sp);
  switch (which) {
    case 0: return p->GetPieceSize();
    case 1: return p->bos_id();
    case 2: return p->eos_id();
    default: return p->unk_id();
  }
}

}  // extern "C"
