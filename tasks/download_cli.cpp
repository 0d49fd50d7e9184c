#include "tasks/download_cli.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file.h"
#include "common/json.h"

namespace wr {

std::vector<Option> with_download_options(std::vector<Option> own) {
  const std::vector<Option> download = {
      {"--offline", "", "never download task files: use the data directory or fail naming the missing file", "", "WR_OFFLINE"},
      {"--mirror", "URL", "fetch <URL>/<original host>/<original path> instead of the original URLs", "", "WR_MIRROR"},
      {"--url-map", "FILE", "a JSON file {original URL: replacement URL} for single files", "", "WR_URL_MAP"},
  };
  own.insert(own.empty() ? own.end() : own.end() - 1, download.begin(), download.end());
  return own;
}

DownloadOptions download_options_from_args(const Args& args, const std::string& data_dir) {
  DownloadOptions o;
  o.data_dir = data_dir;
  o.offline = args.flag("--offline");
  o.mirror = args.get("--mirror");
  if (!args.get("--url-map").empty()) {
    const std::string path = args.get("--url-map");
    try {
      o.url_map = parse_json(read_file(path)).get<std::map<std::string, std::string>>();
    } catch (const nlohmann::json::exception& e) {
      fail(path, ": expected a JSON object of URL -> URL: ", e.what());
    }
  }
  if (isatty(STDERR_FILENO)) {
    auto start = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
    auto last = std::make_shared<std::string>();
    o.progress = [start, last](const std::string& label, int64_t done, int64_t total) {
      if (*last != label) *start = std::chrono::steady_clock::now(), *last = label;
      double s = std::max(1e-9, std::chrono::duration<double>(std::chrono::steady_clock::now() - *start).count());
      if (total > 0)
        std::fprintf(stderr, "\r%-32s %8.1f / %.1f MB %6.1f MB/s ", label.c_str(), done / 1e6, total / 1e6, done / 1e6 / s);
      else
        std::fprintf(stderr, "\r%-32s %8.1f MB %6.1f MB/s ", label.c_str(), done / 1e6, done / 1e6 / s);
    };
  }
  return o;
}

}  // namespace wr
