#include "trainer/parquet_reader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <vector>

#include "common/error.h"

namespace wr {
namespace {

// The plugin's entry points (parquet_plugin.cpp), resolved once.
struct Plugin {
  void* (*open)(const std::string*, const std::string*, std::string*);
  void (*close)(void*);
  int (*row_groups)(void*);
  bool (*read_row_group)(void*, int, std::vector<std::string>*, std::string*);
};

const Plugin& plugin() {
  static const Plugin p = [] {
    // WR_PARQUET_PLUGIN overrides; otherwise the build tree's copy (WR_PARQUET_PLUGIN_PATH is empty when the build
    // found no pyarrow), then one on the library path.
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("WR_PARQUET_PLUGIN")) candidates.push_back(env);
    if (std::string(WR_PARQUET_PLUGIN_PATH).empty() && candidates.empty())
      fail("this wr was built without parquet input: pyarrow was not in .venv when the build was configured "
           "(scripts/setup installs it; then configure and build again)");
    candidates.push_back(WR_PARQUET_PLUGIN_PATH);
    candidates.push_back("libwr_parquet.so");
    // RTLD_LOCAL keeps the symbols of the plugin's libraries (pyarrow's bundled OpenSSL among them) out of the
    // process's global scope. Not RTLD_DEEPBIND, as the SentencePiece plugin is loaded: AddressSanitizer (the
    // fuzz and sanitizer builds) refuses it, and nothing here needs its own copy of a symbol the process has.
    void* handle = nullptr;
    std::string errors;
    for (const auto& path : candidates) {
      if (path.empty()) continue;
      handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (handle) break;
      errors += std::string(" ") + dlerror() + ";";
    }
    if (!handle) fail("cannot load the parquet plugin libwr_parquet.so (built against .venv's pyarrow):", errors);
    auto sym = [&](const char* name) {
      void* s = dlsym(handle, name);
      if (!s) fail("parquet plugin lacks ", name);
      return s;
    };
    Plugin q;
    q.open = reinterpret_cast<decltype(q.open)>(sym("wr_parquet_open"));
    q.close = reinterpret_cast<decltype(q.close)>(sym("wr_parquet_close"));
    q.row_groups = reinterpret_cast<decltype(q.row_groups)>(sym("wr_parquet_row_groups"));
    q.read_row_group = reinterpret_cast<decltype(q.read_row_group)>(sym("wr_parquet_read_row_group"));
    return q;
  }();
  return p;
}

}  // namespace

void read_parquet_documents(const std::string& path, const std::string& text_field,
                            const std::function<void(std::string&&)>& on_doc, const std::function<void(int64_t)>& on_bytes) {
  const Plugin& p = plugin();
  std::string error;
  const std::unique_ptr<void, void (*)(void*)> file(p.open(&path, &text_field, &error), p.close);
  if (!file) fail(path, ": ", error);
  const int groups = p.row_groups(file.get());
  std::error_code ec;
  const uintmax_t file_bytes = std::filesystem::file_size(path, ec);
  const int64_t size = ec ? 0 : static_cast<int64_t>(file_bytes);
  std::vector<std::string> docs;
  for (int g = 0; g < groups; ++g) {
    docs.clear();
    if (!p.read_row_group(file.get(), g, &docs, &error))
      fail(path, ": row group ", g, " (of ", groups, ", counted from 0): ", error);
    for (auto& d : docs) on_doc(std::move(d));
    // The file's bytes spread over its row groups: progress as it is read, and its size in all.
    if (on_bytes) on_bytes(size * (g + 1) / groups - size * g / groups);
  }
  if (on_bytes && groups == 0) on_bytes(size);
}

}  // namespace wr
