#include "model/tokenizer.h"

#include <dlfcn.h>

#include <cstdlib>

#include "model/common/error.h"
#include "model/common/file.h"

namespace wr {
namespace {

// The plugin's entry points, resolved once.
struct Plugin {
  void* (*load)(const std::string*, std::string*);
  void (*free)(void*);
  bool (*encode)(void*, const std::string*, std::vector<int>*, std::string*);
  bool (*decode)(void*, const std::vector<int>*, std::string*, std::string*);
  void (*piece)(void*, int, std::string*);
  int (*info)(void*, int);
};

const Plugin& plugin() {
  static const Plugin p = [] {
    // WR_SPM_PLUGIN overrides; otherwise the build tree's copy, then one next to the executable.
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("WR_SPM_PLUGIN")) candidates.push_back(env);
    candidates.push_back(WR_SPM_PLUGIN_PATH);
    candidates.push_back("libwr_spm.so");
    void* handle = nullptr;
    std::string errors;
    for (const auto& path : candidates) {
      handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (handle) break;
      errors += std::string(" ") + dlerror() + ";";
    }
    if (!handle) fail("cannot load the SentencePiece plugin libwr_spm.so:", errors);
    auto sym = [&](const char* name) {
      void* s = dlsym(handle, name);
      if (!s) fail("SentencePiece plugin lacks ", name);
      return s;
    };
    Plugin q;
    q.load = reinterpret_cast<decltype(q.load)>(sym("wr_spm_load"));
    q.free = reinterpret_cast<decltype(q.free)>(sym("wr_spm_free"));
    q.encode = reinterpret_cast<decltype(q.encode)>(sym("wr_spm_encode"));
    q.decode = reinterpret_cast<decltype(q.decode)>(sym("wr_spm_decode"));
    q.piece = reinterpret_cast<decltype(q.piece)>(sym("wr_spm_piece"));
    q.info = reinterpret_cast<decltype(q.info)>(sym("wr_spm_info"));
    return q;
  }();
  return p;
}

}  // namespace

Tokenizer Tokenizer::from_file(const std::string& path) { return from_bytes(read_file(path), path); }

Tokenizer Tokenizer::from_bytes(const std::string& model_bytes, const std::string& source) {
  const Plugin& p = plugin();
  std::string error;
  void* sp = p.load(&model_bytes, &error);
  if (!sp) fail(source, ": not a SentencePiece model: ", error);
  Tokenizer t;
  t.sp_ = std::shared_ptr<void>(sp, p.free);
  t.bytes_ = model_bytes;
  return t;
}

std::vector<int> Tokenizer::encode(const std::string& text) const {
  std::vector<int> ids;
  std::string error;
  if (!plugin().encode(sp_.get(), &text, &ids, &error)) fail("tokenizer: cannot encode text: ", error);
  return ids;
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  std::string text, error;
  if (!plugin().decode(sp_.get(), &ids, &text, &error)) fail("tokenizer: cannot decode ids: ", error);
  return text;
}

std::string Tokenizer::piece(int id) const {
  std::string out;
  plugin().piece(sp_.get(), id, &out);
  return out;
}

int Tokenizer::vocab_size() const { return plugin().info(sp_.get(), 0); }
int Tokenizer::bos_id() const { return plugin().info(sp_.get(), 1); }
int Tokenizer::eos_id() const { return plugin().info(sp_.get(), 2); }

}  // namespace wr
