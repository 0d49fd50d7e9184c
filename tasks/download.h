// Fetching a task's original files into the data directory (libcurl; zip members extracted with libzip).
//   - cache: <data_dir>/<path> of each TaskFile; a file already there with the pinned sha256 is not fetched again
//   - sha256 checked on every download; a mismatch is an error naming the URL and both hashes, and leaves no file
//   - retries with exponential backoff on 5xx, timeouts and dropped connections; a dropped body resumes (Range)
//   - connect and total timeouts, and a stall limit (no bytes for stall_timeout_s)
//   - offline: never touches the network, and names the exact missing file
//   - mirrors: WR_MIRROR=http://host:port/prefix fetches <mirror>/<original host>/<original path>;
//     url_map replaces single URLs (a lab's own copies)
// Downloads in progress live in <data_dir>/.partial/ (resumable across runs); zips are kept in
// <data_dir>/.archives/ so several members of one zip cost one download.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tasks/task.h"

namespace wr {

struct DownloadOptions {
  std::string data_dir;
  bool offline = false;
  std::string mirror;                               // WR_MIRROR
  std::map<std::string, std::string> url_map;       // original URL -> replacement
  int retries = 4;                                  // attempts after the first
  double backoff_s = 1.0;                           // first wait; doubles each retry
  long connect_timeout_s = 20, total_timeout_s = 1800, stall_timeout_s = 60;
  // (label, bytes so far, total bytes or -1); called often during a transfer
  std::function<void(const std::string&, int64_t, int64_t)> progress;
};

// The URL actually fetched for `url` under opt (url_map first, then mirror).
std::string effective_url(const std::string& url, const DownloadOptions& opt);

// Makes every file of task present and verified under opt.data_dir; returns the paths it fetched.
std::vector<std::string> download_task(const TaskDef& task, const DownloadOptions& opt);

// Downloads url to dest (atomically, resuming a partial download in dest's .partial twin) and, when sha256 is
// not empty, checks it. Exposed for the tests' fault injection.
void download_file(const std::string& url, const std::string& dest, const std::string& sha256, const DownloadOptions& opt);

// Reads a datasets-server split page by page into one JSONL file of rows at dest, checking num_rows_total,
// row indexes and truncation, and records the file's sha256 beside it (dest.sha256).
void download_rows(const TaskFile& f, const std::string& dest, const DownloadOptions& opt);

// The bytes of member in the zip at zip_path.
std::string read_zip_member(const std::string& zip_path, const std::string& member);

}  // namespace wr
