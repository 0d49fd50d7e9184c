#include "trainer/corpus.h"

#include <glob.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file.h"
#include "common/json.h"
#include "common/strings.h"
#include "trainer/parquet_reader.h"

namespace wr {
namespace {

// Decompressed bytes of a file in chunks: zstd frames for .zst, zlib's gzread otherwise (it reads plain
// files unchanged, so .jsonl and .jsonl.gz share one path).
void read_chunks(const std::string& path, const std::function<void(const char*, size_t)>& on_chunk,
                 const std::function<void(int64_t)>& on_bytes) {
  std::vector<char> in(1 << 20), out(1 << 20);
  if (ends_with(path, ".zst")) {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
    if (!f) fail("cannot open ", path, ": ", std::strerror(errno));
    std::unique_ptr<ZSTD_DStream, size_t (*)(ZSTD_DStream*)> z(ZSTD_createDStream(), ZSTD_freeDStream);
    ZSTD_initDStream(z.get());
    size_t n, rc = 0;  // rc: 0 once a frame is complete, else a hint of the bytes the frame still needs
    while ((n = std::fread(in.data(), 1, in.size(), f.get())) > 0) {
      if (on_bytes) on_bytes(static_cast<int64_t>(n));
      ZSTD_inBuffer ib{in.data(), n, 0};
      while (ib.pos < ib.size) {
        ZSTD_outBuffer ob{out.data(), out.size(), 0};
        rc = ZSTD_decompressStream(z.get(), &ob, &ib);
        if (ZSTD_isError(rc)) fail(path, ": zstd: ", ZSTD_getErrorName(rc), " (a damaged or non-zstd file?)");
        on_chunk(out.data(), ob.pos);
      }
    }
    if (std::ferror(f.get())) fail("cannot read ", path, ": ", std::strerror(errno));
    if (rc != 0) fail(path, ": the zstd stream ends inside a frame (a truncated file?)");
    return;
  }
  if (ends_with(path, ".gz")) {  // gzread would read a non-gzip file as plain text
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
    if (!f) fail("cannot open ", path, ": ", std::strerror(errno));
    unsigned char magic[2] = {0, 0};
    if (std::fread(magic, 1, 2, f.get()) != 2 || magic[0] != 0x1f || magic[1] != 0x8b)
      fail(path, ": not a gzip file (no gzip magic bytes)");
  }
  // Closed by the guard when a chunk's reader throws (a bad line), explicitly at the end to read its status.
  std::unique_ptr<gzFile_s, int (*)(gzFile)> gz(gzopen(path.c_str(), "rb"), gzclose);
  if (!gz) fail("cannot open ", path, ": ", std::strerror(errno));
  gzbuffer(gz.get(), 1 << 20);
  int64_t raw_before = 0;
  for (;;) {
    int n = gzread(gz.get(), out.data(), static_cast<unsigned>(out.size()));
    if (n < 0) {
      int err;
      std::string msg = gzerror(gz.get(), &err);
      fail(path, ": ", msg, err == Z_BUF_ERROR ? " (a truncated file?)" : "");
    }
    if (n == 0) break;
    if (on_bytes) {
      int64_t raw = gzoffset(gz.get());
      on_bytes(raw - raw_before);
      raw_before = raw;
    }
    on_chunk(out.data(), static_cast<size_t>(n));
  }
  // A stream cut short reads as a clean end of file; zlib says so only in gzclose (and gzerror's Z_BUF_ERROR).
  if (gzclose(gz.release()) == Z_BUF_ERROR) fail(path, ": the gzip stream ends early (a truncated file?)");
}

}  // namespace

std::vector<std::string> expand_inputs(const std::vector<std::string>& patterns) {
  std::vector<std::string> files;
  for (const auto& pattern : patterns) {
    glob_t g{};
    int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
    if (rc != 0) {
      globfree(&g);
      fail("input ", pattern, ": no such file");
    }
    std::vector<std::string> matches(g.gl_pathv, g.gl_pathv + g.gl_pathc);  // glob sorts
    globfree(&g);
    for (const auto& match : matches) {
      std::error_code ec;
      if (!std::filesystem::is_directory(match, ec)) {
        files.push_back(match);
        continue;
      }
      // A folder as the Hub's datasets are laid out: its files (symbolic links into a download cache included).
      std::vector<std::string> inside;
      for (const auto& e : std::filesystem::directory_iterator(match, ec))
        if (e.is_regular_file() && e.path().filename().string()[0] != '.') inside.push_back(e.path().string());
      if (ec) fail("input ", match, ": cannot list the folder: ", ec.message());
      if (inside.empty()) fail("input ", match, ": a folder with no files");
      std::sort(inside.begin(), inside.end());
      files.insert(files.end(), inside.begin(), inside.end());
    }
  }
  return files;
}

void read_documents(const std::string& path, const std::string& text_field,
                    const std::function<void(std::string&&)>& on_doc, const std::function<void(int64_t)>& on_bytes) {
  if (ends_with(path, ".txt")) {
    std::string text = read_file(path);
    if (on_bytes) on_bytes(static_cast<int64_t>(text.size()));
    on_doc(std::move(text));
    return;
  }
  if (ends_with(path, ".parquet")) {
    read_parquet_documents(path, text_field, on_doc, on_bytes);
    return;
  }
  if (!ends_with(path, ".jsonl") && !ends_with(path, ".jsonl.gz") && !ends_with(path, ".jsonl.zst"))
    fail(path, ": unknown input type (expected .txt, .jsonl, .jsonl.gz, .jsonl.zst or .parquet)");
  std::string line;
  int64_t line_no = 0;
  auto on_line = [&]() {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) return;
    nlohmann::json j;
    try {
      j = parse_json(line);
    } catch (const nlohmann::json::exception& e) {
      fail(path, ":", line_no, ": not valid JSON: ", e.what());
    }
    if (!j.is_object() || !j.contains(text_field) || !j[text_field].is_string())
      fail(path, ":", line_no, ": expected an object with a string field \"", text_field, "\"");
    on_doc(j[text_field].get<std::string>());
  };
  read_chunks(path, [&](const char* data, size_t n) {
    const char* end = data + n;
    while (data < end) {
      const char* nl = static_cast<const char*>(std::memchr(data, '\n', static_cast<size_t>(end - data)));
      line.append(data, nl ? nl : end);
      if (!nl) break;
      on_line();
      line.clear();
      data = nl + 1;
    }
  }, on_bytes);
  if (!line.empty()) on_line();
}

}  // namespace wr
