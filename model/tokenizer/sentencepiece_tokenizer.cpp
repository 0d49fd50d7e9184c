// The SentencePiece format, through a privately loaded plugin (see sentencepiece_shim.cpp for why).
#include "model/tokenizer/tokenizer_impl.h"

#include <dlfcn.h>

#include <cstdlib>

#include "common/error.h"

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
    // RTLD_DEEPBIND keeps the plugin's protobuf apart from LibTorch's. AddressSanitizer cannot run a DEEPBIND
    // library, and the sanitizer build (WR_SANITIZE, without LibTorch) has no second protobuf to keep apart.
#ifdef WR_SANITIZE
    constexpr int kPluginFlags = RTLD_NOW | RTLD_LOCAL;
#else
    constexpr int kPluginFlags = RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
#endif
    // WR_SPM_PLUGIN overrides; otherwise the build tree's copy, then one next to the executable.
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("WR_SPM_PLUGIN")) candidates.push_back(env);
    candidates.push_back(WR_SPM_PLUGIN_PATH);
    candidates.push_back("libwr_spm.so");
    void* handle = nullptr;
    std::string errors;
    for (const auto& path : candidates) {
      handle = dlopen(path.c_str(), kPluginFlags);
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

class SentencePieceTokenizer final : public TokenizerImpl {
 public:
  explicit SentencePieceTokenizer(void* sp) : sp_(sp, plugin().free) {}

  std::vector<int> encode(const std::string& text) const override {
    std::vector<int> ids;
    std::string error;
    if (!plugin().encode(sp_.get(), &text, &ids, &error)) fail("tokenizer: cannot encode text: ", error);
    return ids;
  }
  std::string decode(const std::vector<int>& ids) const override {
    std::string text, error;
    if (!plugin().decode(sp_.get(), &ids, &text, &error)) fail("tokenizer: cannot decode ids: ", error);
    return text;
  }
  std::string piece(int id) const override {
    std::string out;
    plugin().piece(sp_.get(), id, &out);
    return out;
  }
  int vocab_size() const override { return plugin().info(sp_.get(), 0); }
  int bos_id() const override { return plugin().info(sp_.get(), 1); }
  int eos_id() const override { return plugin().info(sp_.get(), 2); }

 private:
  std::shared_ptr<void> sp_;  // the plugin's processor
};

}  // namespace

std::shared_ptr<const TokenizerImpl> load_sentencepiece(const std::string& model_bytes, const std::string& source) {
  std::string error;
  void* sp = plugin().load(&model_bytes, &error);
  if (!sp) fail(source, ": not a SentencePiece model: ", error);
  return std::make_shared<SentencePieceTokenizer>(sp);
}

}  // namespace wr
